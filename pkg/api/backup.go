package api

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// backupExport serves GET /api/backup and /api/backup_full: gosrvmon's
// backup, {"hosts":[...],"notifications":[...]} and, for the full one,
// "checks":{"<host>":[check...]}, streamed while the store reads it. Each
// check is one stored result: {"time","rtt","up"} as gosrvmon writes it,
// with "location" and "error" when they are not empty (gosrvmon ignores
// them when restoring). The server's read and write timeouts do not cut
// it: each write may take up to TransferIdleTimeout. HEAD sends the
// headers and stops.
//
// A store that offers a snapshot (store.Snapshotter) is read from one, so
// that a round committing during the export is in it for every host or for
// none; README.md says what the other stores guarantee.
func (s *server) backupExport(full bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sn, ok := s.Store.(store.Snapshotter)
		if !ok {
			s.writeBackup(w, r, s.Store, full)
			return
		}
		began := false
		err := sn.Snapshot(r.Context(), func(rd store.Reader) error {
			began = true
			s.writeBackup(w, r, rd, full)
			return nil
		})
		if err != nil && !began {
			s.fail(w, r, err)
		}
	}
}

// writeBackup writes the backup that rd reads, for backupExport; it
// answers errors itself.
func (s *server) writeBackup(w http.ResponseWriter, r *http.Request, rd store.Reader, full bool) {
	ctx := r.Context()
	deadlines := newTransferDeadlines(w, s.TransferIdleTimeout)
	deadlines.clearRead() // a download reads nothing more
	hosts, err := rd.Hosts(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rules, err := rd.Rules(ctx)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	name := "backup.json"
	if full {
		name = "backup_full.json"
	}
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	sw := newStreamWriter(w, r, "application/json")
	sw.deadlines = deadlines
	hj, err := json.Marshal(nonNil(hosts))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	rj, err := json.Marshal(nonNil(rules))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	sw.buf = append(sw.buf, `{"hosts":`...)
	sw.buf = append(sw.buf, hj...)
	sw.buf = append(sw.buf, `,"notifications":`...)
	sw.buf = append(sw.buf, rj...)
	if !full {
		sw.buf = append(sw.buf, "}\n"...)
		sw.finish(s, r)
		return
	}
	sw.buf = append(sw.buf, `,"checks":{`...)
	if err := sw.flushNow(); err != nil {
		return // the client is gone
	}
	for i, h := range hosts {
		if i > 0 {
			sw.buf = append(sw.buf, ',')
		}
		sw.buf = appendJSONString(sw.buf, h)
		sw.buf = append(sw.buf, ":["...)
		first := true
		err := rd.Results(ctx, h, minTime(), maxTime(), func(res store.Result) error {
			if !first {
				sw.buf = append(sw.buf, ',')
			}
			first = false
			sw.buf = appendResult(sw.buf, res)
			return sw.maybeFlush()
		})
		if err != nil && !errors.Is(err, store.ErrNotFound) { // not found: deleted meanwhile
			sw.fail(s, r, err)
			return
		}
		sw.buf = append(sw.buf, ']')
	}
	sw.buf = append(sw.buf, "}}\n"...)
	sw.finish(s, r)
}

// restoreCounts is the answer to a restore: what it applied.
type restoreCounts struct {
	Hosts         int   `json:"hosts"`
	Notifications int   `json:"notifications"`
	Checks        int64 `json:"checks"`
}

// backupImport serves POST (and, as in gosrvmon, PUT) /api/backup and
// /api/backup_full: restores a backup in gosrvmon's format, all or
// nothing. /api/backup restores hosts and rules and skips any "checks";
// /api/backup_full restores the checks too. The body is decoded as a
// stream, up to MaxBodyBytes; hosts are validated as targets, rules and
// checks field by field, and anything malformed rolls everything back
// with a 400 that says what and where. The server's read and write
// timeouts do not cut a long restore: each read of the body may wait up to
// TransferIdleTimeout, and a client that stops sending gets a 408 (and the
// store is left as it was).
func (s *server) backupImport(full bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		deadlines := newTransferDeadlines(w, s.TransferIdleTimeout)
		n, err := s.restore(r.Context(), requestBody(w, r, s.MaxBodyBytes, deadlines), full)
		// The restore may have outlasted the server's write timeout.
		deadlines.beforeWrite()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		writeJSON(w, http.StatusOK, n)
	}
}

// restore decodes a backup from body and applies it with one
// store.Restore.
//
// Checks stream straight from the body into the store's transaction when
// "hosts" and "notifications" come before "checks", as gosrvmon writes
// them. A hand-written file with "checks" first (or without one of the
// others) is handled too: its checks are decoded and validated into a
// temporary file (a compact binary record per check), which is replayed
// into the transaction once the rest of the document is known. Memory
// stays bounded either way.
func (s *server) restore(ctx context.Context, body io.Reader, full bool) (restoreCounts, error) {
	doc := &backupDoc{rd: &backupReader{dec: json.NewDecoder(body)}, full: full}
	rd := doc.rd
	var counts restoreCounts
	defer doc.close()
	if err := rd.delim('{', "a backup must be a JSON object"); err != nil {
		return counts, err
	}
	direct, err := doc.fields()
	if err != nil {
		return counts, err
	}
	hosts, rules, sp := doc.hosts, doc.rules, doc.spool

	// Validate hosts and rules before anything is written.
	stored, err := s.Store.Hosts(ctx)
	if err != nil {
		return counts, err
	}
	known := make(map[string]bool, len(stored)+len(hosts))
	for _, h := range stored {
		known[h] = true
	}
	for i, h := range hosts {
		if err := validTarget(h); err != nil {
			return counts, badRequest(fmt.Sprintf("hosts[%d]: %v", i, err))
		}
		known[h] = true
	}
	for i, rule := range rules {
		if err := checkRule(rule); err != nil {
			return counts, badRequest(fmt.Sprintf("notifications[%d]: %v", i, err))
		}
		if !known[rule.Host] {
			return counts, badRequest(fmt.Sprintf("notifications[%d]: host %q is neither in the backup's hosts nor stored", i, rule.Host))
		}
	}
	checkHost := func(h string) error {
		if !known[h] {
			return badRequest(fmt.Sprintf("checks for host %q, which is neither in the backup's hosts nor stored", h))
		}
		return nil
	}

	res := store.Restore{Hosts: hosts, Rules: rules}
	var emitted int64
	switch {
	case direct:
		res.Results = func(ctx context.Context, emit func(store.Result) error) error {
			count := func(r store.Result) error { emitted++; return emit(r) }
			if err := rd.checksOf(checkHost, count); err != nil {
				return err
			}
			// The rest of the document: all three fields are seen, so
			// fields stops at the end and nothing streams again.
			_, err := doc.fields()
			return err
		}
	case sp != nil:
		for _, h := range sp.hosts {
			if err := checkHost(h); err != nil {
				return counts, err
			}
		}
		res.Results = func(ctx context.Context, emit func(store.Result) error) error {
			return sp.replay(func(r store.Result) error { emitted++; return emit(r) })
		}
	}
	res.Hosts, res.Rules = nonNil(hosts), nonNil(rules)
	if err := s.Store.Restore(ctx, res); err != nil {
		return counts, err
	}
	return restoreCounts{Hosts: len(hosts), Notifications: len(rules), Checks: emitted}, nil
}

// backupDoc is a backup's top level as restore reads it.
type backupDoc struct {
	rd    *backupReader
	full  bool // restoring checks (/api/backup_full)
	hosts []string
	rules []store.Rule
	// spool holds checks read before "hosts" and "notifications".
	spool                            *spool
	seenHosts, seenRules, seenChecks bool
}

// fields reads the object's fields up to its end, or up to the value of
// "checks" when they can stream straight into the store (they come after
// "hosts" and "notifications", as gosrvmon writes them): direct says so.
// "checks" before either of the others are spooled; /api/backup skips
// them; any field twice is a 400; unknown fields are skipped, as gosrvmon
// ignores them.
func (d *backupDoc) fields() (direct bool, err error) {
	rd := d.rd
	for rd.dec.More() {
		key, err := rd.key()
		if err != nil {
			return false, err
		}
		var seen *bool
		switch key {
		case "hosts":
			seen = &d.seenHosts
		case "notifications":
			seen = &d.seenRules
		case "checks":
			seen = &d.seenChecks
		}
		if seen != nil {
			if *seen {
				return false, badRequest(fmt.Sprintf("backup has %q twice", key))
			}
			*seen = true
		}
		switch key {
		case "hosts":
			err = rd.decode(&d.hosts, `"hosts"`)
		case "notifications":
			err = rd.decode(&d.rules, `"notifications"`)
		case "checks":
			switch {
			case !d.full:
				// /api/backup restores hosts and rules only, as in gosrvmon.
				err = rd.skip()
			case d.seenHosts && d.seenRules:
				return true, nil // stream the checks inside the transaction
			default:
				if d.spool, err = newSpool(); err == nil {
					err = rd.checks(d.spool.write)
				}
			}
		default:
			err = rd.skip()
		}
		if err != nil {
			return false, err
		}
	}
	return false, rd.end()
}

func (d *backupDoc) close() {
	if d.spool != nil {
		d.spool.close()
	}
}

// backupReader decodes a backup token by token.
type backupReader struct {
	dec *json.Decoder
}

// bad turns a decoding error into the answer: 413 for a body over the
// limit, the body's own error when it did not arrive (408 or 400, see
// bodyReadError), otherwise a 400 that says where.
func (rd *backupReader) bad(what string, err error) error {
	switch re := receiveError(err).(type) {
	case *bodyReadError:
		return fmt.Errorf("backup cut off at byte %d: %w", rd.dec.InputOffset(), re)
	case nil:
	default:
		return re
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return badRequest(fmt.Sprintf("bad backup at byte %d: %s: %v", rd.dec.InputOffset(), what, err))
}

// delim reads the delimiter d; msg says what was expected.
func (rd *backupReader) delim(d json.Delim, msg string) error {
	tok, err := rd.dec.Token()
	if err != nil {
		return rd.bad(msg, err)
	}
	if tok != d {
		return badRequest(fmt.Sprintf("bad backup at byte %d: %s", rd.dec.InputOffset(), msg))
	}
	return nil
}

// openOrNull reads d or null; it reports whether it was d.
func (rd *backupReader) openOrNull(d json.Delim, msg string) (bool, error) {
	tok, err := rd.dec.Token()
	if err != nil {
		return false, rd.bad(msg, err)
	}
	switch tok {
	case d:
		return true, nil
	case nil:
		return false, nil
	}
	return false, badRequest(fmt.Sprintf("bad backup at byte %d: %s", rd.dec.InputOffset(), msg))
}

func (rd *backupReader) key() (string, error) {
	tok, err := rd.dec.Token()
	if err != nil {
		return "", rd.bad("reading a key", err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", badRequest(fmt.Sprintf("bad backup at byte %d: expected a key", rd.dec.InputOffset()))
	}
	return key, nil
}

func (rd *backupReader) decode(v any, what string) error {
	if err := rd.dec.Decode(v); err != nil {
		return rd.bad(what, err)
	}
	return nil
}

// skip reads one value of any kind.
func (rd *backupReader) skip() error {
	depth := 0
	for {
		tok, err := rd.dec.Token()
		if err != nil {
			return rd.bad("skipping a value", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// end reads the closing brace of the document and makes sure nothing
// follows it.
func (rd *backupReader) end() error {
	if err := rd.delim('}', "expected the end of the backup object"); err != nil {
		return err
	}
	if _, err := rd.dec.Token(); err != io.EOF {
		return badRequest(fmt.Sprintf("bad backup at byte %d: data after the backup object", rd.dec.InputOffset()))
	}
	return nil
}

// checks reads the "checks" object (or null), calling emit per check with
// its host; hosts are not checked (a spool checks them afterwards).
func (rd *backupReader) checks(emit func(store.Result) error) error {
	return rd.checksOf(func(string) error { return nil }, emit)
}

// checksOf reads the "checks" object, {"<host>":[check...]} (null for
// none), validating each host key with checkHost and each check's fields,
// and emits them as results.
func (rd *backupReader) checksOf(checkHost func(string) error, emit func(store.Result) error) error {
	ok, err := rd.openOrNull('{', `"checks" must be an object of host: [checks]`)
	if err != nil || !ok {
		return err
	}
	for rd.dec.More() {
		host, err := rd.key()
		if err != nil {
			return err
		}
		if err := checkHost(host); err != nil {
			return err
		}
		ok, err := rd.openOrNull('[', fmt.Sprintf("checks of %q must be an array", host))
		if err != nil {
			return err
		}
		var raw json.RawMessage
		for i := 0; ok && rd.dec.More(); i++ {
			if err := rd.dec.Decode(&raw); err != nil {
				return rd.bad(fmt.Sprintf("check %d of %q", i, host), err)
			}
			c, err := parseCheck(raw)
			if err != nil {
				return badRequest(fmt.Sprintf("bad backup at byte %d: check %d of %q: %v", rd.dec.InputOffset(), i, host, err))
			}
			r, err := c.result(host)
			if err != nil {
				return badRequest(fmt.Sprintf("check %d of %q: %v", i, host, err))
			}
			if err := emit(r); err != nil {
				return err
			}
		}
		if ok {
			if err := rd.delim(']', fmt.Sprintf("checks of %q: expected ]", host)); err != nil {
				return err
			}
		}
	}
	return rd.delim('}', `"checks": expected }`)
}

// backupCheck is one check in a backup: gosrvmon's {"time","rtt","up"},
// with srvmon's optional "location" and "error".
type backupCheck struct {
	Time     time.Time `json:"time"`
	RTT      int64     `json:"rtt"`
	Up       jsonBool  `json:"up"`
	Location string    `json:"location"`
	Error    string    `json:"error"`
}

// parseCheck decodes one check. Checks are most of a backup, so the
// usual shape (the fields above, plain strings and integers, in any
// order) is read directly; anything else goes through encoding/json, which
// decides what it means and words any error.
func parseCheck(raw []byte) (backupCheck, error) {
	if c, ok := parseCheckFast(raw); ok {
		return c, nil
	}
	var c backupCheck
	err := json.Unmarshal(raw, &c)
	return c, err
}

// parseCheckFast reads a check made of the known fields with plain
// values; ok is false for anything else.
func parseCheckFast(b []byte) (c backupCheck, ok bool) {
	i := 0
	ws := func() {
		for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
			i++
		}
	}
	// str reads a string without escapes and returns it with its quotes.
	str := func() ([]byte, bool) {
		if i >= len(b) || b[i] != '"' {
			return nil, false
		}
		for j := i + 1; j < len(b); j++ {
			switch ch := b[j]; {
			case ch == '"':
				s := b[i : j+1]
				i = j + 1
				return s, true
			case ch == '\\' || ch < 0x20 || ch >= 0x80:
				return nil, false
			}
		}
		return nil, false
	}
	ws()
	if i >= len(b) || b[i] != '{' {
		return c, false
	}
	i++
	ws()
	if i < len(b) && b[i] == '}' {
		i++
		ws()
		return c, i == len(b)
	}
	for {
		ws()
		key, ok := str()
		if !ok {
			return c, false
		}
		ws()
		if i >= len(b) || b[i] != ':' {
			return c, false
		}
		i++
		ws()
		switch string(key) {
		case `"time"`:
			v, ok := str()
			if !ok || c.Time.UnmarshalJSON(v) != nil {
				return c, false
			}
		case `"location"`, `"error"`:
			v, ok := str()
			if !ok {
				return c, false
			}
			if key[1] == 'l' {
				c.Location = string(v[1 : len(v)-1])
			} else {
				c.Error = string(v[1 : len(v)-1])
			}
		case `"rtt"`:
			j := i
			if j < len(b) && b[j] == '-' {
				j++
			}
			for j < len(b) && b[j] >= '0' && b[j] <= '9' {
				j++
			}
			// A plain integer only: no leading zero, fraction or exponent.
			if j == i || (b[i] == '0' && j-i > 1) || (b[i] == '-' && (j == i+1 || (b[i+1] == '0' && j-i > 2))) {
				return c, false
			}
			n, err := strconv.ParseInt(string(b[i:j]), 10, 64)
			if err != nil {
				return c, false
			}
			c.RTT, i = n, j
		case `"up"`:
			switch {
			case bytes.HasPrefix(b[i:], []byte("true")):
				c.Up, i = jsonBool{true, true}, i+4
			case bytes.HasPrefix(b[i:], []byte("false")):
				c.Up, i = jsonBool{false, true}, i+5
			default:
				return c, false
			}
		default:
			return c, false
		}
		ws()
		if i >= len(b) {
			return c, false
		}
		switch b[i] {
		case ',':
			i++
		case '}':
			i++
			ws()
			return c, i == len(b)
		default:
			return c, false
		}
	}
}

// jsonBool is a bool that knows whether it was present.
type jsonBool struct{ v, set bool }

func (b *jsonBool) UnmarshalJSON(p []byte) error {
	switch string(p) {
	case "true":
		*b = jsonBool{true, true}
	case "false":
		*b = jsonBool{false, true}
	default:
		return fmt.Errorf("up must be true or false, not %s", p)
	}
	return nil
}

// result validates the check and returns it as a result of host.
func (c backupCheck) result(host string) (store.Result, error) {
	switch {
	case c.Time.IsZero():
		return store.Result{}, errors.New(`missing "time"`)
	case c.Time.Before(minTime()) || !c.Time.Before(maxTime()):
		return store.Result{}, fmt.Errorf("time %s is outside 1970..2262", c.Time.Format(time.RFC3339))
	case !c.Up.set:
		return store.Result{}, errors.New(`missing "up"`)
	case c.RTT < 0:
		return store.Result{}, fmt.Errorf("negative rtt %d", c.RTT)
	}
	return store.Result{
		Host: host, Location: c.Location, Slot: c.Time.UTC(),
		RTT: time.Duration(c.RTT), Up: c.Up.v, Reason: errorIfDown(c.Up.v, c.Error),
	}, nil
}

// spool keeps decoded checks in a temporary file until they can be
// restored: per check, the host's index, the time in unix nanoseconds, the
// rtt, up, the location and the error, as varints and length-prefixed
// strings.
type spool struct {
	f     *os.File
	w     *bufio.Writer
	hosts []string
	index map[string]uint64
	buf   []byte
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "srvmon-restore-*")
	if err != nil {
		return nil, fmt.Errorf("restore spool: %w", err)
	}
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10), index: map[string]uint64{}}, nil
}

func (sp *spool) write(r store.Result) error {
	i, ok := sp.index[r.Host]
	if !ok {
		i = uint64(len(sp.hosts))
		sp.index[r.Host] = i
		sp.hosts = append(sp.hosts, r.Host)
	}
	b := binary.AppendUvarint(sp.buf[:0], i)
	b = binary.AppendVarint(b, r.Slot.UnixNano())
	b = binary.AppendVarint(b, int64(r.RTT))
	if r.Up {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.AppendUvarint(b, uint64(len(r.Location)))
	b = append(b, r.Location...)
	b = binary.AppendUvarint(b, uint64(len(r.Reason)))
	b = append(b, r.Reason...)
	sp.buf = b
	if _, err := sp.w.Write(b); err != nil {
		return fmt.Errorf("restore spool: %w", err)
	}
	return nil
}

// replay emits every spooled result in the order written.
func (sp *spool) replay(emit func(store.Result) error) error {
	if err := sp.w.Flush(); err != nil {
		return fmt.Errorf("restore spool: %w", err)
	}
	if _, err := sp.f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("restore spool: %w", err)
	}
	rd := bufio.NewReaderSize(sp.f, 64<<10)
	str := func() (string, error) {
		n, err := binary.ReadUvarint(rd)
		if err != nil {
			return "", err
		}
		b := make([]byte, n)
		_, err = io.ReadFull(rd, b)
		return string(b), err
	}
	for {
		i, err := binary.ReadUvarint(rd)
		if err == io.EOF {
			return nil
		}
		var r store.Result
		var ns, rtt int64
		var up byte
		if err == nil {
			ns, err = binary.ReadVarint(rd)
		}
		if err == nil {
			rtt, err = binary.ReadVarint(rd)
		}
		if err == nil {
			up, err = rd.ReadByte()
		}
		if err == nil {
			r.Location, err = str()
		}
		if err == nil {
			r.Reason, err = str()
		}
		if err == nil && i >= uint64(len(sp.hosts)) {
			err = fmt.Errorf("host index %d of %d", i, len(sp.hosts))
		}
		if err != nil {
			return fmt.Errorf("restore spool is damaged: %w", err)
		}
		r.Host, r.Slot, r.RTT, r.Up = sp.hosts[i], time.Unix(0, ns).UTC(), time.Duration(rtt), up == 1
		if err := emit(r); err != nil {
			return err
		}
	}
}

func (sp *spool) close() {
	sp.f.Close()
	os.Remove(sp.f.Name())
}
