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
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

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
		err := rd.Results(ctx, h, store.MinTime(), store.MaxTime(), func(res store.Result) error {
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

// Limits of a restore (README: "Backup and restore"). The decoder holds
// one value at a time, plus the hosts and rules, which are applied in one
// transaction with the checks.
const (
	// maxBackupDepth bounds the nesting of arrays and objects anywhere in
	// a backup (gosrvmon's has 3): a deep one would grow the decoder's
	// stack with the body.
	maxBackupDepth = 64
	// maxBackupItem bounds the bytes of each value the decoder reads in
	// one piece: a host, a rule, a check, a key, a token of an unknown
	// field (and the white space before it).
	maxBackupItem = 64 << 10
	// maxBackupEntries bounds the entries of "hosts", and of
	// "notifications"; maxBackupRuleBytes the bytes of the rules kept.
	maxBackupEntries   = 100_000
	maxBackupRuleBytes = 64 << 20
	// maxSkipped bounds the list of what a lenient restore skipped; the
	// total is counted beyond it.
	maxSkipped = 1000
)

// restoreCounts is the answer to a restore: what it applied.
type restoreCounts struct {
	Hosts         int   `json:"hosts"`
	Notifications int   `json:"notifications"`
	Checks        int64 `json:"checks"`
}

// lenientCounts is the answer to a lenient restore (?skip_invalid=1):
// what it applied, and what it skipped and why (the first maxSkipped
// entries, and how many in all).
type lenientCounts struct {
	restoreCounts
	Skipped      []skippedEntry `json:"skipped"`
	SkippedTotal int            `json:"skipped_total"`
}

type skippedEntry struct {
	What   string `json:"what"`
	Reason string `json:"reason"`
}

// skipList collects what a lenient restore skips; nil in a strict one.
type skipList struct {
	entries []skippedEntry
	total   int
}

// skip records what was skipped and why, or, in a strict restore (sl is
// nil), returns the 400 that refuses the whole backup.
func (sl *skipList) skip(what string, reason error) error {
	if sl == nil {
		return badRequest(fmt.Sprintf("%s: %v", what, reason))
	}
	sl.total++
	if len(sl.entries) < maxSkipped {
		sl.entries = append(sl.entries, skippedEntry{what, oneLine(reason.Error())})
	}
	return nil
}

// backupImport serves POST (and, as in gosrvmon, PUT) /api/backup and
// /api/backup_full: restores a backup in gosrvmon's format, all or
// nothing. /api/backup restores hosts and rules and skips any "checks";
// /api/backup_full restores the checks too. The body is decoded as a
// stream, up to MaxBodyBytes; hosts are validated as targets, rules and
// checks field by field, and anything malformed rolls everything back
// with a 400 that says what and where. With ?skip_invalid=1 hosts and
// rules that do not validate, rules and checks of hosts that are neither
// in the backup nor stored are skipped instead, and the answer lists them.
// The server's read and write timeouts do not cut a long restore: each
// read of the body may wait up to TransferIdleTimeout, and a client that
// stops sending gets a 408 (and the store is left as it was).
func (s *server) backupImport(full bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var skips *skipList
		if v := r.URL.Query().Get("skip_invalid"); v != "" {
			lenient, err := strconv.ParseBool(v)
			if err != nil {
				s.fail(w, r, badRequest(fmt.Sprintf("skip_invalid=%q: use 1 or 0", v)))
				return
			}
			if lenient {
				skips = &skipList{entries: []skippedEntry{}}
			}
		}
		deadlines := newTransferDeadlines(w, s.TransferIdleTimeout)
		n, err := s.restore(r.Context(), requestBody(w, r, s.MaxBodyBytes, deadlines), full, skips)
		// The restore may have outlasted the server's write timeout.
		deadlines.beforeWrite()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		if skips != nil {
			writeJSON(w, http.StatusOK, lenientCounts{n, skips.entries, skips.total})
			return
		}
		writeJSON(w, http.StatusOK, n)
	}
}

// restore decodes a backup from body and applies it with one
// store.Restore. skips is nil for an all-or-nothing restore; otherwise
// what does not validate is skipped and recorded there.
//
// Checks stream straight from the body into the store's transaction when
// "hosts" and "notifications" come before "checks", as gosrvmon writes
// them. A hand-written file with "checks" first (or without one of the
// others) is handled too: its checks are decoded and validated into a
// temporary file (a compact binary record per check), which is replayed
// into the transaction once the rest of the document is known. Memory
// stays bounded either way.
func (s *server) restore(ctx context.Context, body io.Reader, full bool, skips *skipList) (restoreCounts, error) {
	ir := &itemReader{r: body}
	doc := &backupDoc{rd: &backupReader{dec: json.NewDecoder(ir), in: ir}, full: full, skips: skips}
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
	hosts, sp := doc.hosts, doc.spool

	// Validate rules against the hosts before anything is written.
	stored, err := s.Store.Hosts(ctx)
	if err != nil {
		return counts, err
	}
	known := make(map[string]bool, len(stored)+len(hosts))
	for _, h := range stored {
		known[h] = true
	}
	for _, h := range hosts {
		known[h] = true
	}
	rules, err := rulesOfKnownHosts(doc.rules, known, skips)
	if err != nil {
		return counts, err
	}
	// checkHost reports whether the checks of h are restored: they are
	// when h is known; otherwise they are skipped, or refuse the backup.
	checkHost := func(h string) (bool, error) {
		if known[h] {
			return true, nil
		}
		return false, skips.skip("checks of host "+quoteShort(h), errors.New("the host is neither in the backup's hosts nor stored"))
	}

	res := store.Restore{Hosts: nonNil(hosts), Rules: rules}
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
		for i, h := range sp.hosts {
			ok, err := checkHost(h)
			if err != nil {
				return counts, err
			}
			if !ok {
				sp.drop[uint64(i)] = true
			}
		}
		res.Results = func(ctx context.Context, emit func(store.Result) error) error {
			return sp.replay(func(r store.Result) error { emitted++; return emit(r) })
		}
	}
	if err := s.Store.Restore(ctx, res); err != nil {
		return counts, err
	}
	return restoreCounts{Hosts: len(hosts), Notifications: len(rules), Checks: emitted}, nil
}

// rulesOfKnownHosts returns the rules whose host is known; any other is
// skipped, or refuses the backup.
func rulesOfKnownHosts(rs []indexedRule, known map[string]bool, skips *skipList) ([]store.Rule, error) {
	rules := make([]store.Rule, 0, len(rs))
	for _, r := range rs {
		if !known[r.rule.Host] {
			err := fmt.Errorf("host %s is neither in the backup's hosts nor stored", quoteShort(r.rule.Host))
			if err := skips.skip(fmt.Sprintf("notifications[%d]", r.index), err); err != nil {
				return nil, err
			}
			continue
		}
		rules = append(rules, r.rule)
	}
	return rules, nil
}

// quoteShort quotes s for a message, cut to 100 bytes.
func quoteShort(s string) string {
	if len(s) > 100 {
		return strconv.Quote(s[:100]) + "…"
	}
	return strconv.Quote(s)
}

// backupDoc is a backup's top level as restore reads it.
type backupDoc struct {
	rd    *backupReader
	full  bool      // restoring checks (/api/backup_full)
	skips *skipList // nil: all or nothing
	hosts []string  // the valid ones
	rules []indexedRule
	// ruleBytes counts the bytes of the rules kept.
	ruleBytes int
	// spool holds checks read before "hosts" and "notifications".
	spool                            *spool
	seenHosts, seenRules, seenChecks bool
}

// indexedRule is a valid rule with its position in "notifications".
type indexedRule struct {
	index int
	rule  store.Rule
}

// fields reads the object's fields up to its end, or up to the value of
// "checks" when they can stream straight into the store (they come after
// "hosts" and "notifications", as gosrvmon writes them): direct says so.
// "checks" before either of the others are spooled; /api/backup skips
// them; any field twice is a 400; unknown fields are skipped, as gosrvmon
// ignores them.
func (d *backupDoc) fields() (direct bool, err error) {
	rd := d.rd
	for rd.more() {
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
			err = rd.array(`"hosts"`, d.host)
		case "notifications":
			err = rd.array(`"notifications"`, d.rule)
		case "checks":
			switch {
			case !d.full:
				// /api/backup restores hosts and rules only, as in gosrvmon.
				err = rd.skip(1)
			case d.seenHosts && d.seenRules:
				return true, nil // stream the checks inside the transaction
			default:
				if d.spool, err = newSpool(); err == nil {
					err = rd.checks(d.spool.write)
				}
			}
		default:
			err = rd.skip(1)
		}
		if err != nil {
			return false, err
		}
	}
	return false, rd.end()
}

// host reads hosts[i]: a target, kept when it validates.
func (d *backupDoc) host(i int, raw []byte) error {
	var h string
	if err := json.Unmarshal(raw, &h); err != nil {
		return badRequest(fmt.Sprintf("bad backup at byte %d: hosts[%d] is not a string", d.rd.dec.InputOffset(), i))
	}
	err := checkJSONText(raw, 2)
	if err == nil {
		err = validTarget(h)
	}
	if err != nil {
		return d.skips.skip(fmt.Sprintf("hosts[%d]", i), err)
	}
	d.hosts = append(d.hosts, h)
	return nil
}

// rule reads notifications[i]: gosrvmon's {"host","threshold","action"},
// kept when it validates (its host is checked once every host is known).
func (d *backupDoc) rule(i int, raw []byte) error {
	var r store.Rule
	if err := json.Unmarshal(raw, &r); err != nil {
		return badRequest(fmt.Sprintf("bad backup at byte %d: notifications[%d]: %v", d.rd.dec.InputOffset(), i, err))
	}
	err := checkJSONText(raw, 2)
	if err == nil {
		err = checkRule(r)
	}
	if err != nil {
		return d.skips.skip(fmt.Sprintf("notifications[%d]", i), err)
	}
	if d.ruleBytes += len(raw); d.ruleBytes > maxBackupRuleBytes {
		return badRequest(fmt.Sprintf(`"notifications" is larger than the limit of %s`, formatBytes(maxBackupRuleBytes)))
	}
	d.rules = append(d.rules, indexedRule{i, r})
	return nil
}

func (d *backupDoc) close() {
	if d.spool != nil {
		d.spool.close()
	}
}

// itemReader is the body as the decoder reads it. It reads at most
// maxBackupItem bytes past the last mark, so that no value the decoder
// buffers whole (a string, a check, white space) grows with the body.
type itemReader struct {
	r     io.Reader
	pos   int64 // bytes read
	limit int64
}

// errItemTooLarge is what itemReader returns past its limit.
var errItemTooLarge = fmt.Errorf("a value is larger than the limit of %s", formatBytes(maxBackupItem))

func (ir *itemReader) Read(p []byte) (int, error) {
	left := ir.limit - ir.pos
	if left <= 0 {
		return 0, errItemTooLarge
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := ir.r.Read(p)
	ir.pos += int64(n)
	return n, err
}

// mark allows the decoder maxBackupItem more bytes.
func (ir *itemReader) mark() { ir.limit = ir.pos + maxBackupItem }

// backupReader decodes a backup token by token.
type backupReader struct {
	dec *json.Decoder
	in  *itemReader
	raw json.RawMessage // the last value, reused
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

// token reads the next token, within maxBackupItem bytes.
func (rd *backupReader) token() (json.Token, error) {
	rd.in.mark()
	return rd.dec.Token()
}

// more reports whether the array or object goes on.
func (rd *backupReader) more() bool {
	rd.in.mark()
	return rd.dec.More()
}

// value reads the next value whole, within maxBackupItem bytes. The
// bytes are valid until the next call; an error is the decoder's (see bad).
func (rd *backupReader) value() (json.RawMessage, error) {
	rd.in.mark()
	err := rd.dec.Decode(&rd.raw)
	return rd.raw, err
}

// delim reads the delimiter d; msg says what was expected.
func (rd *backupReader) delim(d json.Delim, msg string) error {
	tok, err := rd.token()
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
	tok, err := rd.token()
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
	tok, err := rd.token()
	if err != nil {
		return "", rd.bad("reading a key", err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", badRequest(fmt.Sprintf("bad backup at byte %d: expected a key", rd.dec.InputOffset()))
	}
	return key, nil
}

// array reads an array of top-level field name (or null), at most
// maxBackupEntries long, calling each with every entry's index and raw
// JSON.
func (rd *backupReader) array(name string, each func(i int, raw []byte) error) error {
	ok, err := rd.openOrNull('[', name+" must be an array")
	if err != nil || !ok {
		return err
	}
	for i := 0; rd.more(); i++ {
		if i == maxBackupEntries {
			return badRequest(fmt.Sprintf("%s has more than %d entries, the limit", name, maxBackupEntries))
		}
		raw, err := rd.value()
		if err != nil {
			return rd.bad(fmt.Sprintf("%s[%d]", name, i), err)
		}
		if err := each(i, raw); err != nil {
			return err
		}
	}
	return rd.delim(']', name+": expected ]")
}

// skip reads one value of any kind, at depth (that of the object or
// array holding it), refusing one nested deeper than maxBackupDepth.
func (rd *backupReader) skip(depth int) error {
	start := depth
	for {
		tok, err := rd.token()
		if err != nil {
			return rd.bad("skipping a value", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > maxBackupDepth {
				return badRequest(fmt.Sprintf("bad backup at byte %d: nested deeper than %d levels", rd.dec.InputOffset(), maxBackupDepth))
			}
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == start {
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
	if _, err := rd.token(); err != io.EOF {
		return badRequest(fmt.Sprintf("bad backup at byte %d: data after the backup object", rd.dec.InputOffset()))
	}
	return nil
}

// checks reads the "checks" object (or null), calling emit per check with
// its host; hosts are not checked (a spool checks them afterwards).
func (rd *backupReader) checks(emit func(store.Result) error) error {
	return rd.checksOf(func(string) (bool, error) { return true, nil }, emit)
}

// checksOf reads the "checks" object, {"<host>":[check...]} (null for
// none), asking checkHost whether each host's checks are restored or
// skipped, validating each check's fields, and emits them as results.
func (rd *backupReader) checksOf(checkHost func(string) (bool, error), emit func(store.Result) error) error {
	ok, err := rd.openOrNull('{', `"checks" must be an object of host: [checks]`)
	if err != nil || !ok {
		return err
	}
	for rd.more() {
		host, err := rd.key()
		if err != nil {
			return err
		}
		// encoding/json turns bytes that are not UTF-8 into U+FFFD, which
		// no target holds: such a key would name another host.
		if strings.ContainsRune(host, utf8.RuneError) {
			return badRequest(fmt.Sprintf("bad backup at byte %d: a key of \"checks\" is not valid UTF-8: %s", rd.dec.InputOffset(), quoteShort(host)))
		}
		restore, err := checkHost(host)
		if err != nil {
			return err
		}
		if !restore {
			if err := rd.skip(2); err != nil {
				return err
			}
			continue
		}
		if err := rd.hostChecks(host, emit); err != nil {
			return err
		}
	}
	return rd.delim('}', `"checks": expected }`)
}

// hostChecks reads the array (or null) of host's checks and emits them.
func (rd *backupReader) hostChecks(host string, emit func(store.Result) error) error {
	ok, err := rd.openOrNull('[', fmt.Sprintf("checks of %s must be an array", quoteShort(host)))
	if err != nil || !ok {
		return err
	}
	for i := 0; rd.more(); i++ {
		raw, err := rd.value()
		if err != nil {
			return rd.bad(fmt.Sprintf("check %d of %s", i, quoteShort(host)), err)
		}
		c, err := parseCheck(raw)
		if err != nil {
			return badRequest(fmt.Sprintf("bad backup at byte %d: check %d of %s: %v", rd.dec.InputOffset(), i, quoteShort(host), err))
		}
		r, err := c.result(host)
		if err != nil {
			return badRequest(fmt.Sprintf("check %d of %s: %v", i, quoteShort(host), err))
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return rd.delim(']', fmt.Sprintf("checks of %s: expected ]", quoteShort(host)))
}

// checkJSONText checks the raw JSON of a value, whose outermost array or
// object is at depth, for what encoding/json would silently change or a
// store would refuse: bytes that are not UTF-8 and \u escapes of unpaired
// surrogates (both decode as U+FFFD, so a host would become another),
// NUL (\u0000, which PostgreSQL's text cannot hold), and nesting deeper
// than maxBackupDepth.
func checkJSONText(raw []byte, depth int) error {
	if !utf8.Valid(raw) {
		return errors.New("not valid UTF-8")
	}
	inString := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !inString {
			switch c {
			case '"':
				inString = true
			case '[', '{':
				if depth++; depth > maxBackupDepth {
					return fmt.Errorf("nested deeper than %d levels", maxBackupDepth)
				}
			case ']', '}':
				depth--
			}
			continue
		}
		switch {
		case c == '"':
			inString = false
		case c == '\\' && raw[i+1] != 'u':
			i++
		case c == '\\':
			r := hex4(raw[i+2 : i+6])
			i += 5
			switch {
			case r == 0:
				return errors.New(`holds NUL (\u0000)`)
			case r >= 0xdc00 && r < 0xe000:
				return errors.New("holds an unpaired UTF-16 surrogate")
			case r >= 0xd800 && r < 0xdc00:
				if i+6 >= len(raw) || raw[i+1] != '\\' || raw[i+2] != 'u' {
					return errors.New("holds an unpaired UTF-16 surrogate")
				}
				if lo := hex4(raw[i+3 : i+7]); lo < 0xdc00 || lo >= 0xe000 {
					return errors.New("holds an unpaired UTF-16 surrogate")
				}
				i += 6
			}
		}
	}
	return nil
}

// hex4 reads the four hex digits of a \u escape of valid JSON.
func hex4(b []byte) rune {
	var r rune
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		default:
			c -= 'A' - 10
		}
		r = r<<4 | rune(c)
	}
	return r
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
		return c, nil // plain ASCII without escapes: nothing to check
	}
	var c backupCheck
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, err
	}
	return c, checkJSONText(raw, 3)
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

// result validates the check and returns it as a result of host. A
// negative rtt of a down check is gosrvmon's failed ping: see
// store.GosrvmonRTT. (The raw JSON is checked for NUL and bytes that are
// not UTF-8 before: see checkJSONText.)
func (c backupCheck) result(host string) (store.Result, error) {
	switch {
	case c.Time.IsZero():
		return store.Result{}, errors.New(`missing "time"`)
	case c.Time.Before(store.MinTime()) || !c.Time.Before(store.MaxTime()):
		return store.Result{}, fmt.Errorf("time %s is outside 1970..2262", c.Time.Format(time.RFC3339))
	case !c.Up.set:
		return store.Result{}, errors.New(`missing "up"`)
	case len(c.Location) > store.MaxLocationLen:
		return store.Result{}, fmt.Errorf("location is %d bytes long, the limit is %d", len(c.Location), store.MaxLocationLen)
	case strings.ContainsFunc(c.Location, unicode.IsControl):
		return store.Result{}, fmt.Errorf("location %q holds a control character", c.Location)
	case len(c.Error) > store.MaxReasonLen:
		return store.Result{}, fmt.Errorf("error is %d bytes long, the limit is %d", len(c.Error), store.MaxReasonLen)
	}
	rtt, ok := store.GosrvmonRTT(c.RTT, c.Up.v)
	if !ok {
		return store.Result{}, fmt.Errorf("negative rtt %d on a check that was up", c.RTT)
	}
	return store.Result{
		Host: host, Location: c.Location, Slot: c.Time.UTC(),
		RTT: rtt, Up: c.Up.v, Reason: errorIfDown(c.Up.v, c.Error),
	}, nil
}

// spool keeps decoded checks in a temporary file until they can be
// restored: per check, the host's index, the time in unix nanoseconds, the
// rtt, up, the location and the error, as varints and length-prefixed
// strings.
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
		if sp.drop[i] {
			continue
		}
		r.Host, r.Slot, r.RTT, r.Up = sp.hosts[i], time.Unix(0, ns).UTC(), time.Duration(rtt), up == 1
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
