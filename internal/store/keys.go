package store

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"strings"
)

// Key format: tg_live_<public id: 8 base62>_<secret: 32 base62>. The public id
// is the lookup handle (the key id is "k_"+public id); only SHA-256 of the
// secret is stored. The secret carries 190 random bits, so a fast hash is
// right: nothing to brute-force, and no bcrypt on the request path.
const (
	KeyPrefix       = "tg_live_"
	KeyPublicLen    = 8
	KeySecretLen    = 32
	keySecretMaxLen = 128
	keyIDPrefix     = "k_"
	base62          = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newID returns prefix + 20 base32 characters (100 random bits).
func newID(prefix string) string {
	var b [13]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return prefix + idEncoding.EncodeToString(b[:])[:20]
}

// randomBase62 returns n uniformly random base62 characters (rejection sampling).
func randomBase62(n int) string {
	out := make([]byte, 0, n)
	var buf [64]byte
	for len(out) < n {
		_, _ = rand.Read(buf[:])
		for _, c := range buf {
			if c < 248 && len(out) < n { // 248 = 4*62: keeps the draw unbiased
				out = append(out, base62[c%62])
			}
		}
	}
	return string(out)
}

// newKey returns a fresh plaintext key and its public id.
func newKey() (plaintext, publicID string) {
	publicID = randomBase62(KeyPublicLen)
	return KeyPrefix + publicID + "_" + randomBase62(KeySecretLen), publicID
}

// KeyIDFor returns the key record id of a public id.
func KeyIDFor(publicID string) string { return keyIDPrefix + publicID }

// PublicIDOf returns the public id of a key record id ("k_AbCd1234" -> "AbCd1234").
func PublicIDOf(keyID string) (string, bool) {
	p, ok := strings.CutPrefix(keyID, keyIDPrefix)
	return p, ok && len(p) == KeyPublicLen
}

// KeyDisplayPrefix is what users see to recognise a key.
func KeyDisplayPrefix(publicID string) string { return KeyPrefix + publicID }

// ParseKey splits a presented key into its public id and secret. It does not
// allocate; ok is false for anything not shaped like a tollgate key.
func ParseKey(key string) (publicID, secret string, ok bool) {
	publicID, secret, ok = SplitKey(key)
	if !ok || !isBase62(publicID) || !isBase62(secret) {
		return "", "", false
	}
	return publicID, secret, true
}

// SplitKey is ParseKey without the character checks: prefix, lengths and
// the separator only. It is for lookups that check the rest anyway (the
// public id must decode, the secret's hash must match a stored one, and
// stored secrets are base62), so they skip a table load per character.
func SplitKey(key string) (publicID, secret string, ok bool) {
	rest, found := strings.CutPrefix(key, KeyPrefix)
	if !found || len(rest) < KeyPublicLen+1+KeySecretLen || len(rest) > KeyPublicLen+1+keySecretMaxLen {
		return "", "", false
	}
	if rest[KeyPublicLen] != '_' {
		return "", "", false
	}
	return rest[:KeyPublicLen], rest[KeyPublicLen+1:], true
}

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if base62Digits[s[i]] < 0 {
			return false
		}
	}
	return true
}

// Base62Digit is c's value as a base62 digit (0-9, A-Z, a-z: 0 to 61), or
// -1 when c is not one.
func Base62Digit(c byte) int8 { return base62Digits[c] }

// base62Digits is the alphabet inverted: one table load per byte, as every
// request with an API key checks some fifty of them.
var base62Digits = func() (t [256]int8) {
	for i := range t {
		t[i] = -1
	}
	for i := range len(base62) {
		t[base62[i]] = int8(i)
	}
	return t
}()

// HashSecret is the stored form of a key secret.
func HashSecret(secret string) [32]byte { return sha256.Sum256([]byte(secret)) }
