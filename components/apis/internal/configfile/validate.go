package configfile

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Problems collects validation problems, each a *FieldError naming the field
// and the fix. The zero value is ready to use.
type Problems struct {
	errs []error
}

// Addf records a problem with the field at path.
func (p *Problems) Addf(path, format string, args ...any) {
	p.errs = append(p.errs, &FieldError{Path: path, Msg: fmt.Sprintf(format, args...)})
}

// Err returns all recorded problems joined with errors.Join, or nil.
func (p *Problems) Err() error {
	return errors.Join(p.errs...)
}

// Port checks 1 <= v <= 65535.
func (p *Problems) Port(path string, v int64) {
	if v < 1 || v > 65535 {
		p.Addf(path, "%d is not a port; set a number from 1 to 65535", v)
	}
}

// PortOrZero checks 0 <= v <= 65535, where 0 means zeroMeans.
func (p *Problems) PortOrZero(path string, v int64, zeroMeans string) {
	if v < 0 || v > 65535 {
		p.Addf(path, "%d is not a port; set a number from 1 to 65535, or 0 to %s", v, zeroMeans)
	}
}

// Positive checks v > 0; what describes the value (e.g. "seconds between heartbeats").
func (p *Problems) Positive(path string, v int64, what string) {
	if v <= 0 {
		p.Addf(path, "must be greater than 0 (%s), got %d", what, v)
	}
}

// Range checks lo <= v <= hi; what describes the value.
func (p *Problems) Range(path string, v, lo, hi int64, what string) {
	if v < lo || v > hi {
		p.Addf(path, "must be from %d to %d (%s), got %d", lo, hi, what, v)
	}
}

// NotEmpty checks v != ""; hint says what to put there.
func (p *Problems) NotEmpty(path, v, hint string) {
	if strings.TrimSpace(v) == "" {
		p.Addf(path, "must not be empty; %s", hint)
	}
}

// File checks that v is a non-empty file path (absolute or relative).
func (p *Problems) File(path, v string) {
	if strings.TrimSpace(v) == "" {
		p.Addf(path, "must not be empty; set the path of the file")
	}
}

// AbsDir checks that v is an absolute path.
func (p *Problems) AbsDir(path, v string) {
	if !filepath.IsAbs(v) {
		p.Addf(path, "%q is not an absolute path; set an absolute directory such as /var/lib/edged", v)
	}
}

// IP checks that v is an IP address.
func (p *Problems) IP(path, v string) {
	if net.ParseIP(v) == nil {
		p.Addf(path, "%q is not an IP address; set an IPv4 or IPv6 address such as 0.0.0.0 or 192.168.1.10", v)
	}
}

// HostPort checks that v is host:port with a non-empty host and a port from
// 1 to 65535; example shows a good value.
func (p *Problems) HostPort(path, v, example string) {
	host, port, err := net.SplitHostPort(v)
	if err == nil && host != "" {
		n, perr := strconv.Atoi(port)
		if perr == nil && n >= 1 && n <= 65535 {
			return
		}
	}
	p.Addf(path, "%q is not host:port; set it like %s", v, example)
}

// URL checks that v is an absolute URL with one of the schemes and a host;
// example shows a good value.
func (p *Problems) URL(path, v string, schemes []string, example string) {
	u, err := url.Parse(v)
	if err == nil && slices.Contains(schemes, u.Scheme) && u.Host != "" {
		return
	}
	p.Addf(path, "%q is not an absolute URL with scheme %s; set it like %s", v, strings.Join(schemes, " or "), example)
}

// DNSSubdomain checks that v is a DNS-1123 subdomain (a valid node name).
func (p *Problems) DNSSubdomain(path, v, hint string) {
	if v == "" {
		p.Addf(path, "must not be empty; %s", hint)
		return
	}
	if msgs := validation.IsDNS1123Subdomain(v); len(msgs) > 0 {
		p.Addf(path, "%q is not a valid DNS-1123 subdomain (%s); %s", v, strings.Join(msgs, "; "), hint)
	}
}

// DNSLabel checks that v is a DNS-1123 label (a valid namespace name).
func (p *Problems) DNSLabel(path, v, hint string) {
	if v == "" {
		p.Addf(path, "must not be empty; %s", hint)
		return
	}
	if msgs := validation.IsDNS1123Label(v); len(msgs) > 0 {
		p.Addf(path, "%q is not a valid DNS-1123 label (%s); %s", v, strings.Join(msgs, "; "), hint)
	}
}

// Labels checks Kubernetes label keys and values.
func (p *Problems) Labels(path string, labels map[string]string) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		if msgs := validation.IsQualifiedName(k); len(msgs) > 0 {
			p.Addf(path, "label key %q is invalid (%s); use e.g. example.com/role", k, strings.Join(msgs, "; "))
		}
		if msgs := validation.IsValidLabelValue(labels[k]); len(msgs) > 0 {
			p.Addf(path+"."+k, "label value %q is invalid (%s)", labels[k], strings.Join(msgs, "; "))
		}
	}
}

// OneOf checks that v is one of allowed.
func (p *Problems) OneOf(path, v string, allowed ...string) {
	if !slices.Contains(allowed, v) {
		p.Addf(path, "%q is not allowed; set one of %s", v, strings.Join(allowed, ", "))
	}
}

// PositiveInts checks that every integer field of the struct s is greater
// than 0, naming each by path plus its JSON name; what describes the values.
func (p *Problems) PositiveInts(path string, s any, what string) {
	v := reflect.ValueOf(s)
	for _, f := range structFields(v.Type()) {
		fv := v.FieldByIndex(f.index)
		switch fv.Kind() {
		case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
			p.Positive(joinPath(path, f.name), fv.Int(), what)
		case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
			p.Positive(joinPath(path, f.name), int64(fv.Uint()), what)
		}
	}
}
