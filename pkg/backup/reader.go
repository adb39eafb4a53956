package backup

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/store"
)

// itemReader is the body as the decoder reads it. It reads at most
// MaxItem bytes past the last mark, so that no value the decoder
// buffers whole (a string, a check, white space) grows with the body.
type itemReader struct {
	r      io.Reader
	pos    int64 // bytes read
	limit  int64
	window int64 // the bytes the last mark allowed
}

func (ir *itemReader) Read(p []byte) (int, error) {
	left := ir.limit - ir.pos
	if left <= 0 {
		return 0, fmt.Errorf("a value is larger than the limit of %d KiB", ir.window>>10)
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := ir.r.Read(p)
	ir.pos += int64(n)
	if err != nil && err != io.EOF {
		err = &readError{err}
	}
	return n, err
}

// readError is an error of the body's reader: the backup did not arrive
// whole (a client that stopped sending, a body over the server's limit, a
// file that cannot be read), which says nothing about its content.
type readError struct{ err error }

func (e *readError) Error() string { return e.err.Error() }
func (e *readError) Unwrap() error { return e.err }

// mark allows the decoder MaxItem more bytes.
func (ir *itemReader) mark() { ir.markWithin(MaxItem) }

// markWithin allows the decoder n more bytes.
func (ir *itemReader) markWithin(n int64) { ir.limit, ir.window = ir.pos+n, n }

// backupReader decodes a backup token by token.
type backupReader struct {
	dec *json.Decoder
	in  *itemReader
	raw json.RawMessage // the last value, reused
}

// bad turns a decoding error into the error Restore returns: the body's
// reader's own error, wrapped, when the backup did not arrive whole (the
// caller answers that: the API with a 408, 413 or 400), otherwise an
// *Error that says where.
func (rd *backupReader) bad(what string, err error) error {
	var re *readError
	if errors.As(err, &re) {
		return fmt.Errorf("backup cut off at byte %d: %w", rd.dec.InputOffset(), re.err)
	}
	if errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return errorf("bad backup at byte %d: %s: %v", rd.dec.InputOffset(), what, err)
}

// token reads the next token, within MaxItem bytes.
func (rd *backupReader) token() (json.Token, error) {
	rd.in.mark()
	return rd.dec.Token()
}

// more reports whether the array or object goes on.
func (rd *backupReader) more() bool {
	rd.in.mark()
	return rd.dec.More()
}

// value reads the next value whole, within MaxItem bytes. The
// bytes are valid until the next call; an error is the decoder's (see bad).
func (rd *backupReader) value() (json.RawMessage, error) { return rd.valueWithin(MaxItem) }

// valueWithin is value within n bytes.
func (rd *backupReader) valueWithin(n int64) (json.RawMessage, error) {
	rd.in.markWithin(n)
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
		return errorf("bad backup at byte %d: %s", rd.dec.InputOffset(), msg)
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
	return false, errorf("bad backup at byte %d: %s", rd.dec.InputOffset(), msg)
}

func (rd *backupReader) key() (string, error) {
	tok, err := rd.token()
	if err != nil {
		return "", rd.bad("reading a key", err)
	}
	key, ok := tok.(string)
	if !ok {
		return "", errorf("bad backup at byte %d: expected a key", rd.dec.InputOffset())
	}
	return key, nil
}

// array reads an array of top-level field name (or null), at most
// MaxEntries long, calling each with every entry's index and raw
// JSON, each within MaxItem bytes.
func (rd *backupReader) array(name string, each func(i int, raw []byte) error) error {
	return rd.arrayWithin(name, MaxItem, each)
}

// arrayWithin is array with entries of up to maxItem bytes.
func (rd *backupReader) arrayWithin(name string, maxItem int64, each func(i int, raw []byte) error) error {
	ok, err := rd.openOrNull('[', name+" must be an array")
	if err != nil || !ok {
		return err
	}
	for i := 0; rd.more(); i++ {
		if i == MaxEntries {
			return errorf("%s has more than %d entries, the limit", name, MaxEntries)
		}
		raw, err := rd.valueWithin(maxItem)
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
// array holding it), refusing one nested deeper than MaxDepth.
func (rd *backupReader) skip(depth int) error {
	start := depth
	for {
		tok, err := rd.token()
		if err != nil {
			return rd.bad("skipping a value", err)
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			if depth++; depth > MaxDepth {
				return errorf("bad backup at byte %d: nested deeper than %d levels", rd.dec.InputOffset(), MaxDepth)
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
		return errorf("bad backup at byte %d: data after the backup object", rd.dec.InputOffset())
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
			return errorf("bad backup at byte %d: a key of \"checks\" is not valid UTF-8: %s", rd.dec.InputOffset(), quoteShort(host))
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
			return errorf("bad backup at byte %d: check %d of %s: %v", rd.dec.InputOffset(), i, quoteShort(host), err)
		}
		r, err := c.result(host)
		if err != nil {
			return errorf("check %d of %s: %v", i, quoteShort(host), err)
		}
		if err := emit(r); err != nil {
			return err
		}
	}
	return rd.delim(']', fmt.Sprintf("checks of %s: expected ]", quoteShort(host)))
}
