package notify

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/srvmon/srvmon/pkg/store"
)

// Limits of a rule's srvmon fields (CheckRule).
const (
	MaxChannels      = 20
	MaxChannelLen    = 2 << 10
	MaxMessageLen    = 4 << 10
	MaxWindow        = 64 // store.State.Recent's bits
	MinRemindEvery   = time.Minute
	MaxCertExpiryDay = 365
)

// CheckRule validates a rule: gosrvmon's fields as store.CheckRule does,
// and srvmon's: at most MaxChannels channels, each a URL of a known
// service that it accepts (CheckChannel; nothing is sent) of at most
// MaxChannelLen bytes; a message of at most MaxMessageLen bytes whose
// {WORD} placeholders are all known (Placeholders); recovery_threshold not
// negative; window 0 or from the threshold to MaxWindow; quorum "",
// "majority" or a positive whole number; remind_every 0 or at least a
// minute; cert_expiry_days from 0 to 365. The error is one line naming
// the field ("channels[1]: …") and holds no secret of a channel. The API
// and a restore both check rules with it.
func CheckRule(r store.Rule) error {
	if err := store.CheckRule(r); err != nil {
		return err
	}
	if len(r.Channels) > MaxChannels {
		return fmt.Errorf("channels: %d channels, at most %d", len(r.Channels), MaxChannels)
	}
	for i, c := range r.Channels {
		switch {
		case c == "":
			return fmt.Errorf("channels[%d]: empty", i)
		case len(c) > MaxChannelLen:
			return fmt.Errorf("channels[%d]: %d bytes, at most %d", i, len(c), MaxChannelLen)
		case !utf8.ValidString(c) || strings.ContainsFunc(c, isControl):
			return fmt.Errorf("channels[%d]: not valid UTF-8 text", i)
		}
		if err := CheckChannel(c); err != nil {
			return fmt.Errorf("channels[%d]: %s", i, oneLine(err.Error()))
		}
	}
	if err := checkMessage(r.Message); err != nil {
		return fmt.Errorf("message: %w", err)
	}
	threshold := max(r.Threshold, 1)
	switch {
	case r.RecoveryThreshold < 0:
		return fmt.Errorf("recovery_threshold: %d is negative", r.RecoveryThreshold)
	case r.Window < 0 || (r.Window > 0 && (r.Window < threshold || r.Window > MaxWindow)):
		return fmt.Errorf("window: %d must be 0 or from the threshold (%d) to %d", r.Window, threshold, MaxWindow)
	case r.RemindEvery.D() < 0 || (r.RemindEvery.D() > 0 && r.RemindEvery.D() < MinRemindEvery):
		return fmt.Errorf("remind_every: %s must be 0 or at least %s", r.RemindEvery.D(), MinRemindEvery)
	case r.CertExpiryDays < 0 || r.CertExpiryDays > MaxCertExpiryDay:
		return fmt.Errorf("cert_expiry_days: %d must be from 0 to %d", r.CertExpiryDays, MaxCertExpiryDay)
	}
	if err := checkQuorum(r.Quorum); err != nil {
		return fmt.Errorf("quorum: %w", err)
	}
	return nil
}

// checkQuorum accepts "", "majority" or a positive whole number.
func checkQuorum(q store.Quorum) error {
	if q == "" || q == "majority" {
		return nil
	}
	n, err := strconv.ParseInt(string(q), 10, 64)
	if err != nil || n < 1 || strconv.FormatInt(n, 10) != string(q) {
		return fmt.Errorf("%q is not \"majority\" or a positive whole number", truncate(string(q), 40))
	}
	return nil
}

// checkMessage accepts a message template of at most MaxMessageLen bytes
// of UTF-8 whose {WORD}s (upper-case letters in braces) are placeholders
// Render knows. Other braces are kept as written, so JSON in a message is
// fine.
func checkMessage(m string) error {
	if len(m) > MaxMessageLen {
		return fmt.Errorf("%d bytes, at most %d", len(m), MaxMessageLen)
	}
	if !utf8.ValidString(m) {
		return fmt.Errorf("not valid UTF-8")
	}
	for rest := m; ; {
		i := strings.IndexByte(rest, '{')
		if i < 0 {
			return nil
		}
		rest = rest[i+1:]
		name, _, ok := strings.Cut(rest, "}")
		if !ok {
			return nil
		}
		if name != "" && !strings.ContainsFunc(name, func(r rune) bool { return r < 'A' || r > 'Z' }) &&
			!slices.Contains(Placeholders, name) {
			return fmt.Errorf("unknown placeholder {%s} (known: {%s})", truncate(name, 40), strings.Join(Placeholders, "} {"))
		}
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// oneLine keeps an error on one line.
func oneLine(s string) string {
	if !strings.ContainsAny(s, "\r\n") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
