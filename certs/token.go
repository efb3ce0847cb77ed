package certs

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// DefaultTokenRefresh is how often CloudCore regenerates the join token
// (upstream tokenRefreshDuration, 12 hours). Tokens live twice as long.
const DefaultTokenRefresh = 12 * time.Hour

// DefaultTokenTTL is the lifetime of a join token: 2 × DefaultTokenRefresh.
const DefaultTokenTTL = 2 * DefaultTokenRefresh

// Join token errors. Their messages never contain the token; test with errors.Is.
var (
	// ErrTokenMalformed means the token does not have the expected shape.
	ErrTokenMalformed = errors.New("join token is malformed")
	// ErrTokenExpired means the token's exp has passed.
	ErrTokenExpired = errors.New("join token has expired")
	// ErrTokenSignature means the token was not signed with this cluster's CA key.
	ErrTokenSignature = errors.New("join token was not signed by this cluster's CA")
	// ErrCAHashMismatch means the CA served by the cloud is not the one the token was made for.
	ErrCAHashMismatch = errors.New("CA certificate does not match the join token")
)

const freshTokenHint = "get a fresh one with `keadm gettoken` on the cloud"

// GenerateToken returns a join token "<caHash>.<jwt>" for ca, expiring at now+ttl. The
// JWT is HS256 with the single claim exp, keyed with the CA key DER, as upstream. A zero
// ttl means DefaultTokenTTL.
func GenerateToken(ca *CA, now time.Time, ttl time.Duration) (string, error) {
	if err := ca.usable(); err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	if ttl == 0 {
		ttl = DefaultTokenTTL
	}
	if ttl < 0 {
		return "", fmt.Errorf("generate token: ttl %s must be positive", ttl)
	}
	key, err := ca.KeyDER()
	if err != nil {
		return "", fmt.Errorf("generate token: %w", err)
	}
	claims := jwt.MapClaims{"exp": orNow(now).Add(ttl).Unix()}
	signed, err := jwt.NewWithClaims(jwt.SigningMethodHS256, claims).SignedString(key)
	if err != nil {
		return "", fmt.Errorf("generate token: sign: %w", err)
	}
	return ca.Hash() + "." + signed, nil
}

// Token is a parsed join token, as the edge uses it.
type Token struct {
	// CAHash is the hex SHA-256 of the CA certificate DER the token was made for.
	CAHash string
	// JWT is the bearer token sent to /edge.crt.
	JWT string
}

// ParseToken splits a join token into its CA hash and JWT. It needs exactly four
// dot-separated parts, the first being 64 hex digits; otherwise it returns
// ErrTokenMalformed (the token itself is never part of the error).
func ParseToken(token string) (Token, error) {
	token = strings.TrimSpace(token)
	parts := strings.Split(token, ".")
	if len(parts) != 4 {
		return Token{}, fmt.Errorf("%w: want 4 dot-separated parts (<caHash>.<jwt>), got %d; %s",
			ErrTokenMalformed, len(parts), freshTokenHint)
	}
	for i, p := range parts {
		if p == "" {
			return Token{}, fmt.Errorf("%w: part %d is empty; %s", ErrTokenMalformed, i+1, freshTokenHint)
		}
	}
	if !isHex64(parts[0]) {
		return Token{}, fmt.Errorf("%w: the first part must be a 64-digit hex CA hash; %s", ErrTokenMalformed, freshTokenHint)
	}
	return Token{CAHash: strings.ToLower(parts[0]), JWT: strings.Join(parts[1:], ".")}, nil
}

// CheckCA compares the SHA-256 of the CA certificate DER served by the cloud with the
// hash in the token, and returns ErrCAHashMismatch if they differ.
func (t Token) CheckCA(caDER []byte) error {
	got := HashCert(caDER)
	if strings.EqualFold(got, t.CAHash) {
		return nil
	}
	return fmt.Errorf("%w: the CA served by the cloud (sha256 %s) differs from the one the token was made for (sha256 %s); "+
		"check --cloudcore-ipport/--certport point at this cluster's CloudCore, or the token comes from another cluster: %s",
		ErrCAHashMismatch, got, t.CAHash, freshTokenHint)
}

// String describes the token without revealing the JWT.
func (t Token) String() string { return "Token{CAHash: " + t.CAHash + ", JWT: <redacted>}" }

// GoString describes the token without revealing the JWT.
func (t Token) GoString() string { return t.String() }

// VerifyToken checks a bearer JWT (the token without its CA hash) at time now: it must be
// HMAC-signed (HS256/384/512) with the CA key DER and carry an exp after now. It returns
// ErrTokenSignature, ErrTokenExpired or ErrTokenMalformed.
func VerifyToken(ca *CA, token string, now time.Time) error {
	if err := ca.usable(); err != nil {
		return fmt.Errorf("verify token: %w", err)
	}
	key, err := ca.KeyDER()
	if err != nil {
		return fmt.Errorf("verify token: %w", err)
	}
	now = orNow(now)
	p := jwt.NewParser(
		// Upstream accepts the whole HMAC family.
		jwt.WithValidMethods([]string{"HS256", "HS384", "HS512"}),
		jwt.WithTimeFunc(func() time.Time { return now }),
		jwt.WithExpirationRequired(),
	)
	_, err = p.Parse(token, func(*jwt.Token) (any, error) { return key, nil })
	switch {
	case err == nil:
		return nil
	case errors.Is(err, jwt.ErrTokenMalformed):
		return fmt.Errorf("%w: %s", ErrTokenMalformed, freshTokenHint)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		return fmt.Errorf("%w: made for another cluster or before the CA was replaced; %s", ErrTokenSignature, freshTokenHint)
	case errors.Is(err, jwt.ErrTokenExpired):
		return fmt.Errorf("%w; %s", ErrTokenExpired, freshTokenHint)
	case errors.Is(err, jwt.ErrTokenRequiredClaimMissing):
		return fmt.Errorf("%w: no exp claim; %s", ErrTokenMalformed, freshTokenHint)
	default:
		// jwt's own messages are not passed on: some quote bytes of the token.
		return fmt.Errorf("%w: invalid claims; %s", ErrTokenMalformed, freshTokenHint)
	}
}

func isHex64(s string) bool {
	if len(s) != 64 {
		return false
	}
	for _, c := range s {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
