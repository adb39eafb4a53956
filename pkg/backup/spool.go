package backup

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/srvmon/srvmon/pkg/store"
)

// spool keeps decoded checks in a temporary file until they can be
// restored: per check, the host's index, the time in unix nanoseconds, the
// rtt, a flags byte (spoolUp, spoolMaintenance), the location and the
// error, as varints and length-prefixed strings.
//
// The file is unlinked as soon as it is made (where the system allows it),
// so that it goes with the process however that ends: a crash or kill -9
// mid-restore leaves no file behind.
type spool struct {
	f     *os.File
	w     *bufio.Writer
	hosts []string
	index map[string]uint64
	// drop holds the indexes of hosts whose checks are not replayed (a
	// lenient restore skips them).
	drop     map[uint64]bool
	buf      []byte
	unlinked bool
}

func newSpool() (*spool, error) {
	f, err := os.CreateTemp("", "srvmon-restore-*")
	if err != nil {
		return nil, fmt.Errorf("restore spool: %w", err)
	}
	unlinked := os.Remove(f.Name()) == nil // fails on Windows: removed at close
	return &spool{f: f, w: bufio.NewWriterSize(f, 64<<10), index: map[string]uint64{}, drop: map[uint64]bool{}, unlinked: unlinked}, nil
}

// The bits of a spooled check's flags byte.
const (
	spoolUp          = 1
	spoolMaintenance = 2
)

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
	var flags byte
	if r.Up {
		flags |= spoolUp
	}
	if r.Maintenance {
		flags |= spoolMaintenance
	}
	b = append(b, flags)
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

// dropHosts asks checkHost whether each spooled host's checks are
// restored, and marks those that are not, so that replay skips them.
func (sp *spool) dropHosts(checkHost func(string) (bool, error)) error {
	for i, h := range sp.hosts {
		ok, err := checkHost(h)
		if err != nil {
			return err
		}
		if !ok {
			sp.drop[uint64(i)] = true
		}
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
		var flags byte
		if err == nil {
			ns, err = binary.ReadVarint(rd)
		}
		if err == nil {
			rtt, err = binary.ReadVarint(rd)
		}
		if err == nil {
			flags, err = rd.ReadByte()
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
		if sp.drop[i] {
			continue
		}
		r.Host, r.Slot, r.RTT = sp.hosts[i], time.Unix(0, ns).UTC(), time.Duration(rtt)
		r.Up, r.Maintenance = flags&spoolUp != 0, flags&spoolMaintenance != 0
		if err := emit(r); err != nil {
			return err
		}
	}
}

func (sp *spool) close() {
	sp.f.Close()
	if !sp.unlinked {
		os.Remove(sp.f.Name())
	}
}
