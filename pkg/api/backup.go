package api

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/srvmon/srvmon/pkg/backup"
	"github.com/srvmon/srvmon/pkg/store"
)

// backupExport serves GET /api/backup and /api/backup_full: gosrvmon's
// backup, written by backup.Encode while the store reads it (the full one
// with every check). The server's read and write timeouts do not cut it:
// each write may take up to TransferIdleTimeout. HEAD sends the headers
// and stops.
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
// answers errors itself: with their status while nothing is sent, by
// aborting the response after (see streamWriter.fail).
func (s *server) writeBackup(w http.ResponseWriter, r *http.Request, rd store.Reader, full bool) {
	deadlines := newTransferDeadlines(w, s.TransferIdleTimeout)
	deadlines.clearRead() // a download reads nothing more
	name := "backup.json"
	if full {
		name = "backup_full.json"
	}
	sw := newStreamWriter(w, r, "application/json")
	sw.deadlines = deadlines
	if err := backup.Encode(r.Context(), &attachment{sw: sw, name: name}, rd, full); err != nil {
		sw.fail(s, r, err)
		return
	}
	sw.finish(s, r)
}

// attachment is the writer of an export: it names the download when the
// first bytes go out, so that an error answered before them (the store
// failing) is not offered as a file, and lets backup.Encode flush.
type attachment struct {
	sw    *streamWriter
	name  string
	named bool
}

func (a *attachment) Write(p []byte) (int, error) {
	if !a.named {
		a.named = true
		a.sw.w.Header().Set("Content-Disposition", `attachment; filename="`+a.name+`"`)
	}
	return a.sw.Write(p)
}

// Flush sends what is written to the client at once.
func (a *attachment) Flush() error { return a.sw.flushNow() }

// restoreCounts is the answer to a restore: what it applied.
type restoreCounts struct {
	Hosts         int   `json:"hosts"`
	Notifications int   `json:"notifications"`
	Checks        int64 `json:"checks"`
}

// lenientCounts is the answer to a lenient restore (?skip_invalid=1):
// what it applied, and what it skipped and why (the first
// backup.MaxSkipped entries, and how many in all).
type lenientCounts struct {
	restoreCounts
	Skipped      []skippedEntry `json:"skipped"`
	SkippedTotal int            `json:"skipped_total"`
}

type skippedEntry struct {
	What   string `json:"what"`
	Reason string `json:"reason"`
}

// backupImport serves POST (and, as in gosrvmon, PUT) /api/backup and
// /api/backup_full: restores a backup in gosrvmon's format with
// backup.Restore, all or nothing. /api/backup restores hosts and rules and
// skips any "checks"; /api/backup_full restores the checks too. The body
// is read up to MaxBodyBytes (413 beyond); a backup that Restore refuses
// is a 400 that says what and where. With ?skip_invalid=1 what does not
// validate is skipped instead, and the answer lists it. The server's read
// and write timeouts do not cut a long restore: each read of the body may
// wait up to TransferIdleTimeout, and a client that stops sending gets a
// 408 (and the store is left as it was).
func (s *server) backupImport(full bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		opts := backup.Options{Full: full}
		if v := r.URL.Query().Get("skip_invalid"); v != "" {
			lenient, err := strconv.ParseBool(v)
			if err != nil {
				s.fail(w, r, badRequest(fmt.Sprintf("skip_invalid=%q: use 1 or 0", v)))
				return
			}
			opts.SkipInvalid = lenient
		}
		deadlines := newTransferDeadlines(w, s.TransferIdleTimeout)
		n, err := s.restore(r, requestBody(w, r, s.MaxBodyBytes, deadlines), opts)
		// The restore may have outlasted the server's write timeout.
		deadlines.beforeWrite()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		counts := restoreCounts{n.Hosts, n.Notifications, n.Checks}
		if !opts.SkipInvalid {
			writeJSON(w, http.StatusOK, counts)
			return
		}
		skipped := make([]skippedEntry, len(n.Skipped))
		for i, e := range n.Skipped {
			skipped[i] = skippedEntry{e.What, oneLine(e.Reason)}
		}
		writeJSON(w, http.StatusOK, lenientCounts{counts, skipped, n.SkippedTotal})
	}
}

// restore applies the backup in body with backup.Restore; a backup it
// refuses (*backup.Error) is a 400. Errors receiving the body keep their
// own answers (see fail).
func (s *server) restore(r *http.Request, body io.Reader, opts backup.Options) (backup.Counts, error) {
	n, err := backup.Restore(r.Context(), s.Store, body, opts)
	var be *backup.Error
	if errors.As(err, &be) {
		return n, badRequest(be.Error())
	}
	return n, err
}
