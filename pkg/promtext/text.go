// Package promtext writes metrics in Prometheus's text exposition format
// 0.0.4, the format every Prometheus scrapes: the appenders of its lines
// (AppendHeader, AppendLabel, AppendFloat), counter and gauge vectors
// with fixed label values and histograms with fixed buckets, a Registry
// of them, and the Go runtime's and the process's families
// (NewProcessRegistry) under the names client_golang gives them.
//
// It stands in for github.com/prometheus/client_golang, whose package
// inits and protobuf data model cost every binary about 2 MiB of idle
// memory for a few dozen series: srvmon only ever writes the text format.
package promtext

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// ContentType is the Content-Type of the text format 0.0.4, as
// client_golang's promhttp sent it.
const ContentType = "text/plain; version=0.0.4; charset=utf-8; escaping=underscores"

// Metric types, as a family's TYPE line names them.
const (
	TypeCounter   = "counter"
	TypeGauge     = "gauge"
	TypeHistogram = "histogram"
	TypeSummary   = "summary"
)

// AppendHeader appends a family's HELP and TYPE lines, help escaped.
func AppendHeader(b []byte, name, typ, help string) []byte {
	b = append(b, "# HELP "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = appendEscaped(b, help, false)
	b = append(b, "\n# TYPE "...)
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, typ...)
	return append(b, '\n')
}

// AppendSample appends the sample line name{labels} v, or name v when
// labels is empty. labels is one or more AppendLabel's, comma-separated.
func AppendSample(b []byte, name, labels string, v float64) []byte {
	b = appendSeries(b, name, labels)
	b = AppendFloat(b, v)
	return append(b, '\n')
}

// appendCount appends the sample line name{labels} n of a histogram's or
// summary's count (or a bucket's), an integer as expfmt wrote it.
func appendCount(b []byte, name, labels string, n uint64) []byte {
	b = appendSeries(b, name, labels)
	b = strconv.AppendUint(b, n, 10)
	return append(b, '\n')
}

// appendSeries appends what a sample line has before its value:
// "name{labels} ", or "name " when labels is empty.
func appendSeries(b []byte, name, labels string) []byte {
	b = append(b, name...)
	if labels != "" {
		b = append(b, '{')
		b = append(b, labels...)
		b = append(b, '}')
	}
	return append(b, ' ')
}

// AppendFloat appends v as the format writes values (and expfmt wrote
// them): the shortest form that reads back the same, +Inf, -Inf and NaN
// as the format spells them.
func AppendFloat(b []byte, v float64) []byte {
	return strconv.AppendFloat(b, v, 'g', -1, 64)
}

// AppendLabel appends name="value", value escaped.
func AppendLabel(b []byte, name, value string) []byte {
	b = append(b, name...)
	b = append(b, '=', '"')
	b = appendEscaped(b, value, true)
	return append(b, '"')
}

// appendEscaped appends s escaped as the text format requires: a label
// value's backslash, double quote and line feed as \\, \" and \n; a
// HELP text's (quote false) backslash and line feed. Bytes that are not
// UTF-8 become U+FFFD, which the format's parsers require (client_golang
// refused such a label value).
func appendEscaped(b []byte, s string, quote bool) []byte {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}
