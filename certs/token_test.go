package certs

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// handJWT builds an HS256 JWT the way upstream's golang-jwt v3 does, without the library.
func handJWT(key []byte, header, payload string) string {
	signing := b64(header) + "." + b64(payload)
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(signing))
	return signing + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

func decodePart(t *testing.T, part string) map[string]any {
	t.Helper()
	raw, err := base64.RawURLEncoding.DecodeString(part)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestGenerateToken(t *testing.T) {
	ca := mustCA(t)
	tests := []struct {
		name    string
		ttl     time.Duration
		wantExp time.Time
		wantErr bool
	}{
		{name: "default 24h", ttl: 0, wantExp: t0.Add(24 * time.Hour)},
		{name: "custom", ttl: time.Hour, wantExp: t0.Add(time.Hour)},
		{name: "negative", ttl: -time.Hour, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := GenerateToken(ca, t0, tt.ttl)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			if err != nil {
				return
			}
			parts := strings.Split(tok, ".")
			if len(parts) != 4 || parts[0] != ca.Hash() {
				t.Fatalf("token shape wrong: %d parts", len(parts))
			}
			if h := decodePart(t, parts[1]); h["alg"] != "HS256" {
				t.Errorf("header = %v", h)
			}
			claims := decodePart(t, parts[2])
			if len(claims) != 1 || claims["exp"] != float64(tt.wantExp.Unix()) {
				t.Errorf("claims = %v, want only exp=%d", claims, tt.wantExp.Unix())
			}
			// Signature is HMAC-SHA256 keyed with the CA key DER, exactly as upstream.
			key, _ := ca.KeyDER()
			mac := hmac.New(sha256.New, key)
			mac.Write([]byte(parts[1] + "." + parts[2]))
			if got := base64.RawURLEncoding.EncodeToString(mac.Sum(nil)); got != parts[3] {
				t.Error("signature is not HMAC-SHA256 over the CA key DER")
			}
			pt, err := ParseToken(tok)
			if err != nil {
				t.Fatal(err)
			}
			if err := pt.CheckCA(ca.Cert.Raw); err != nil {
				t.Fatal(err)
			}
			if err := VerifyToken(ca, pt.JWT, t0.Add(time.Minute)); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := GenerateToken(nil, t0, 0); err == nil {
		t.Error("nil CA accepted")
	}
}

func TestVerifyToken(t *testing.T) {
	ca := mustCA(t)
	other := mustCA(t)
	key, _ := ca.KeyDER()
	exp := t0.Add(24 * time.Hour)
	jwtOf := func(tok string, err error) string {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		p, err := ParseToken(tok)
		if err != nil {
			t.Fatal(err)
		}
		return p.JWT
	}
	good := jwtOf(GenerateToken(ca, t0, 24*time.Hour))
	foreign := jwtOf(GenerateToken(other, t0, 24*time.Hour))
	hs512, err := jwt.NewWithClaims(jwt.SigningMethodHS512, jwt.MapClaims{"exp": exp.Unix()}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	upstream := handJWT(key, `{"alg":"HS256","typ":"JWT"}`, fmt.Sprintf(`{"exp":%d}`, exp.Unix()))
	parts := strings.Split(good, ".")
	forged := parts[0] + "." + b64(fmt.Sprintf(`{"exp":%d}`, exp.Add(1000*time.Hour).Unix())) + "." + parts[2]

	tests := []struct {
		name    string
		token   string
		now     time.Time
		wantErr error
	}{
		{name: "valid", token: good, now: t0.Add(time.Hour)},
		{name: "upstream-built token", token: upstream, now: t0.Add(time.Hour)},
		{name: "HS512 accepted", token: hs512, now: t0.Add(time.Hour)},
		{name: "expired", token: good, now: exp.Add(time.Second), wantErr: ErrTokenExpired},
		{name: "other cluster", token: foreign, now: t0, wantErr: ErrTokenSignature},
		{name: "expired and other cluster", token: foreign, now: exp.Add(time.Hour), wantErr: ErrTokenSignature},
		{name: "forged payload", token: forged, now: t0, wantErr: ErrTokenSignature},
		{name: "alg none", token: b64(`{"alg":"none","typ":"JWT"}`) + "." + b64(`{"exp":9999999999}`) + ".", now: t0, wantErr: ErrTokenSignature},
		{name: "RS256 header", token: b64(`{"alg":"RS256","typ":"JWT"}`) + "." + b64(`{"exp":9999999999}`) + ".c2ln", now: t0, wantErr: ErrTokenSignature},
		{name: "no exp", token: handJWT(key, `{"alg":"HS256","typ":"JWT"}`, `{}`), now: t0, wantErr: ErrTokenMalformed},
		{name: "garbage", token: "secret-garbage", now: t0, wantErr: ErrTokenMalformed},
		{name: "bad base64", token: "a!b.c!d.e!f", now: t0, wantErr: ErrTokenMalformed},
		{name: "full token instead of jwt", token: ca.Hash() + "." + good, now: t0, wantErr: ErrTokenMalformed},
		{name: "empty", token: "", now: t0, wantErr: ErrTokenMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyToken(ca, tt.token, tt.now)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			for _, s := range []error{ErrTokenExpired, ErrTokenSignature, ErrTokenMalformed} {
				if s != tt.wantErr && errors.Is(err, s) {
					t.Errorf("err also matches %v", s)
				}
			}
			if err != nil && tt.token != "" && strings.Contains(err.Error(), tt.token) {
				t.Errorf("error message contains the token: %v", err)
			}
		})
	}
	if err := VerifyToken(nil, good, t0); err == nil {
		t.Error("nil CA accepted")
	}
}

func TestParseToken(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	jwtPart := "eyJh.eyJl.c2ln"
	tests := []struct {
		name    string
		in      string
		want    Token
		wantErr bool
	}{
		{name: "ok", in: hash + "." + jwtPart, want: Token{CAHash: hash, JWT: jwtPart}},
		{name: "surrounding whitespace", in: " " + hash + "." + jwtPart + "\n", want: Token{CAHash: hash, JWT: jwtPart}},
		{name: "uppercase hash", in: strings.ToUpper(hash) + "." + jwtPart, want: Token{CAHash: hash, JWT: jwtPart}},
		{name: "jwt only", in: jwtPart, wantErr: true},
		{name: "five parts", in: hash + "." + jwtPart + ".x", wantErr: true},
		{name: "short hash", in: hash[:63] + "." + jwtPart, wantErr: true},
		{name: "non-hex hash", in: strings.Repeat("zz", 32) + "." + jwtPart, wantErr: true},
		{name: "empty part", in: hash + ".eyJh..c2ln", wantErr: true},
		{name: "empty", in: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseToken(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrTokenMalformed) {
					t.Fatalf("err = %v, want ErrTokenMalformed", err)
				}
				if !strings.Contains(err.Error(), "keadm gettoken") {
					t.Errorf("error lacks the hint: %v", err)
				}
				if strings.Contains(err.Error(), "eyJ") || strings.Contains(err.Error(), hash[:16]) {
					t.Errorf("error leaks the token: %v", err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseToken = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestTokenCheckCA(t *testing.T) {
	ca := mustCA(t)
	other := mustCA(t)
	tok := Token{CAHash: ca.Hash(), JWT: "a.b.c"}
	tests := []struct {
		name    string
		der     []byte
		wantErr error
	}{
		{"same CA", ca.Cert.Raw, nil},
		{"other CA", other.Cert.Raw, ErrCAHashMismatch},
		{"empty body", nil, ErrCAHashMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tok.CheckCA(tt.der)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil && !strings.Contains(err.Error(), "--cloudcore-ipport") {
				t.Errorf("error lacks the hint: %v", err)
			}
		})
	}
}

func TestTokenStringRedacts(t *testing.T) {
	tok := Token{CAHash: "abc", JWT: "header.payload.signature"}
	for _, f := range []string{"%v", "%+v", "%#v", "%s"} {
		if s := fmt.Sprintf(f, tok); strings.Contains(s, "payload") {
			t.Errorf("%s prints the JWT: %s", f, s)
		}
	}
}
