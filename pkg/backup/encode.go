package backup

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/srvmon/srvmon/pkg/monitor"
	"github.com/srvmon/srvmon/pkg/store"
)

// chunk is the size at which Encode hands its buffer to the writer: large
// enough that a write costs little per check, small enough that the
// download moves on steadily.
const chunk = 32 << 10

// Encode writes the backup that rd reads to w: hosts, rules, the
// monitors whose settings are not zero ("monitors", without their source:
// a restore makes them API-made; left out when there are none), the
// maintenance windows ("maintenance", with their IDs; left out when there
// are none) and, when full, every stored result as a check,
// {"time","rtt","up"} as gosrvmon writes it, with "location" and "error"
// when they are not empty and "maintenance": true for a result checked
// in maintenance (so a store without maintenance backs up byte for byte
// as gosrvmon's did). It
// writes as it reads, in pieces of about 32 KiB, so memory does not grow
// with the backup. Nothing is written when reading the hosts or the rules
// fails, so the caller can still answer that error. When w has a Flush
// method, it is called once the hosts and rules are written, so that the
// download begins before the checks are read. A host deleted while its
// results are read has no checks; any other error of rd or of w stops
// Encode and is returned.
func Encode(ctx context.Context, w io.Writer, rd store.Reader, full bool) error {
	hosts, err := rd.Hosts(ctx)
	if err != nil {
		return err
	}
	rules, err := rd.Rules(ctx)
	if err != nil {
		return err
	}
	monitors, err := rd.Monitors(ctx)
	if err != nil {
		return err
	}
	windows, err := rd.Maintenances(ctx)
	if err != nil {
		return err
	}
	e := &encoder{w: w, buf: make([]byte, 0, chunk+512)}
	if err := e.head(hosts, rules, monitors, windows); err != nil {
		return err
	}
	if !full {
		e.buf = append(e.buf, "}\n"...)
		return e.write()
	}
	e.buf = append(e.buf, `,"checks":{`...)
	if err := e.flush(); err != nil {
		return err
	}
	for i, h := range hosts {
		if i > 0 {
			e.buf = append(e.buf, ',')
		}
		if err := e.hostChecks(ctx, rd, h); err != nil {
			return err
		}
	}
	e.buf = append(e.buf, "}}\n"...)
	return e.write()
}

// encoder buffers Encode's output.
type encoder struct {
	w   io.Writer
	buf []byte
}

// head appends {"hosts":[...],"notifications":[...] (lists, never null),
// "monitors":[...] when any monitor has settings and "maintenance":[...]
// when there are windows, the object left open for "checks". Only
// monitors with settings are written, without their source: a store
// without settings or windows backs up exactly as gosrvmon's did.
func (e *encoder) head(hosts []string, rules []store.Rule, monitors []monitor.Monitor, windows []monitor.Maintenance) error {
	if hosts == nil {
		hosts = []string{}
	}
	if rules == nil {
		rules = []store.Rule{}
	}
	var withSettings []monitor.Monitor
	for _, m := range monitors {
		if !m.Settings.IsZero() {
			m.Source = monitor.SourceAPI
			withSettings = append(withSettings, m)
		}
	}
	j, err := json.Marshal(struct {
		Hosts       []string              `json:"hosts"`
		Rules       []store.Rule          `json:"notifications"`
		Monitors    []monitor.Monitor     `json:"monitors,omitempty"`
		Maintenance []monitor.Maintenance `json:"maintenance,omitempty"`
	}{hosts, rules, withSettings, windows})
	if err != nil {
		return err
	}
	e.buf = append(e.buf, j[:len(j)-1]...) // without its }
	return nil
}

// hostChecks appends "<host>":[check...] for host.
func (e *encoder) hostChecks(ctx context.Context, rd store.Reader, host string) error {
	e.buf = AppendJSONString(e.buf, host)
	e.buf = append(e.buf, ":["...)
	first := true
	err := rd.Results(ctx, host, store.MinTime(), store.MaxTime(), func(res store.Result) error {
		if !first {
			e.buf = append(e.buf, ',')
		}
		first = false
		e.buf = AppendCheck(e.buf, res.Slot, res.RTT, res.Up, res.Location, res.Reason, res.Maintenance)
		if len(e.buf) < chunk {
			return nil
		}
		return e.write()
	})
	if err != nil && !errors.Is(err, store.ErrNotFound) { // not found: deleted meanwhile
		return err
	}
	e.buf = append(e.buf, ']')
	return nil
}

// write hands the buffer to the writer.
func (e *encoder) write() error {
	_, err := e.w.Write(e.buf)
	e.buf = e.buf[:0]
	return err
}

// flush writes the buffer and flushes the writer, if it can be.
func (e *encoder) flush() error {
	if err := e.write(); err != nil {
		return err
	}
	if f, ok := e.w.(interface{ Flush() error }); ok {
		return f.Flush()
	}
	return nil
}

// AppendCheck appends a check as gosrvmon's JSON, {"time","rtt","up"},
// with "location" and "error" when they are not empty and
// "maintenance": true when it was checked in maintenance: what
// encoding/json writes for it, without reflection (a backup is mostly
// checks). The API's /api/checks writes its checks with it too.
func AppendCheck(b []byte, t time.Time, rtt time.Duration, up bool, location, reason string, maintenance bool) []byte {
	b = append(b, `{"time":"`...)
	b = t.UTC().AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","rtt":`...)
	b = strconv.AppendInt(b, int64(rtt), 10)
	b = append(b, `,"up":`...)
	b = strconv.AppendBool(b, up)
	if location != "" {
		b = append(b, `,"location":`...)
		b = AppendJSONString(b, location)
	}
	if reason != "" {
		b = append(b, `,"error":`...)
		b = AppendJSONString(b, reason)
	}
	if maintenance {
		b = append(b, `,"maintenance":true`...)
	}
	return append(b, '}')
}

// AppendJSONString appends s as a JSON string, escaped as encoding/json
// escapes it.
func AppendJSONString(b []byte, s string) []byte {
	q, err := json.Marshal(s)
	if err != nil { // a string always marshals
		return append(b, `""`...)
	}
	return append(b, q...)
}
