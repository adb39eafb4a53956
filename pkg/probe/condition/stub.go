// Package condition is a TEMPORARY STUB of h/cond's package, with its API,
// so that pkg/probe compiles and its tests run until h/cond is merged. It
// is deleted before that merge.
package condition

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/tidwall/gjson"
)

type Response struct {
	Connected     bool
	Status        int
	ResponseTime  time.Duration
	Header        http.Header
	Body          []byte
	BodyTruncated bool
	IP            string
	CertExpiry    time.Time
	DNSRcode      string
	Now           time.Time
}

type Uses uint

const (
	UsesBody Uses = 1 << iota
	UsesHeader
	UsesCertificate
	UsesConnected
	UsesDNS
	UsesIP
)

type Condition struct {
	src, left, op, right string
	uses                 Uses
}

func Parse(s string) (*Condition, error) {
	for _, op := range []string{"==", "!=", "<=", ">=", "<", ">"} {
		if l, r, ok := strings.Cut(s, " "+op+" "); ok {
			c := &Condition{src: s, left: l, op: op, right: r}
			switch {
			case strings.HasPrefix(l, "[BODY]"):
				c.uses = UsesBody
			case strings.HasPrefix(l, "[HEADER]"):
				c.uses = UsesHeader
			case l == "[CERTIFICATE_EXPIRATION]":
				c.uses = UsesCertificate
			case l == "[CONNECTED]":
				c.uses = UsesConnected
			case l == "[DNS_RCODE]":
				c.uses = UsesDNS
			case l == "[IP]":
				c.uses = UsesIP
			}
			return c, nil
		}
	}
	return nil, errors.New("no operator")
}

func (c *Condition) String() string { return c.src }
func (c *Condition) Uses() Uses     { return c.uses }

func (c *Condition) Eval(r *Response) (bool, string) {
	var left string
	var num float64
	isNum := false
	switch {
	case c.left == "[STATUS]":
		left, num, isNum = strconv.Itoa(r.Status), float64(r.Status), true
	case c.left == "[RESPONSE_TIME]":
		num, isNum = float64(r.ResponseTime.Milliseconds()), true
		left = strconv.Itoa(int(num))
	case c.left == "[BODY]":
		left = string(r.Body)
	case strings.HasPrefix(c.left, "[BODY]."):
		left = gjson.GetBytes(r.Body, strings.TrimPrefix(c.left, "[BODY].")).String()
	case strings.HasPrefix(c.left, "[HEADER]."):
		left = r.Header.Get(strings.TrimPrefix(c.left, "[HEADER]."))
	case c.left == "[CERTIFICATE_EXPIRATION]":
		d := r.CertExpiry.Sub(r.Now)
		if r.CertExpiry.IsZero() {
			d = 0
		}
		num, isNum, left = float64(d), true, d.String()
	case c.left == "[CONNECTED]":
		left = strconv.FormatBool(r.Connected)
	case c.left == "[DNS_RCODE]":
		left = r.DNSRcode
	case c.left == "[IP]":
		left = r.IP
	}
	ok := false
	if isNum {
		var rn float64
		if c.left == "[CERTIFICATE_EXPIRATION]" {
			s := c.right
			mult := time.Duration(1)
			if strings.HasSuffix(s, "d") {
				s, mult = strings.TrimSuffix(s, "d")+"h", 24
			}
			d, _ := time.ParseDuration(s)
			rn = float64(d * mult)
		} else {
			rn, _ = strconv.ParseFloat(c.right, 64)
		}
		switch c.op {
		case "==":
			ok = num == rn
		case "!=":
			ok = num != rn
		case "<":
			ok = num < rn
		case "<=":
			ok = num <= rn
		case ">":
			ok = num > rn
		case ">=":
			ok = num >= rn
		}
	} else {
		switch c.op {
		case "==":
			ok = left == c.right
		case "!=":
			ok = left != c.right
		}
	}
	if ok {
		return true, ""
	}
	return false, fmt.Sprintf("condition %s failed: %q", c.src, left)
}

func Compile(conds []string) ([]*Condition, error) {
	var cs []*Condition
	for _, s := range conds {
		c, err := Parse(s)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	return cs, nil
}

func EvalAll(cs []*Condition, r *Response) (bool, string) {
	for _, c := range cs {
		if ok, why := c.Eval(r); !ok {
			return false, why
		}
	}
	return true, ""
}
