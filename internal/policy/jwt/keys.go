package jwt

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"slices"
)

// family is a key type. A key of one family is never used to check a token
// signed with another family's algorithm: that is what stops key-type
// confusion (an RSA public key used as an HMAC secret).
type family int

const (
	famHMAC family = iota + 1
	famRSA
	famEC
	famEd25519
)

const minRSABits = 2048

func familyOf(alg string) family {
	switch alg {
	case "HS256", "HS384", "HS512":
		return famHMAC
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512":
		return famRSA
	case "ES256", "ES384", "ES512":
		return famEC
	case "EdDSA":
		return famEd25519
	}
	return 0
}

// curveOf is the one curve each ES algorithm uses (RFC 7518 §3.4).
func curveOf(alg string) elliptic.Curve {
	switch alg {
	case "ES256":
		return elliptic.P256()
	case "ES384":
		return elliptic.P384()
	case "ES512":
		return elliptic.P521()
	}
	return nil
}

// key is a verification key ready for use.
type key struct {
	kid string
	alg string // "" = any algorithm of its family
	fam family
	// material is []byte, *rsa.PublicKey, *ecdsa.PublicKey or ed25519.PublicKey.
	material any
}

// fits reports whether k may verify a token signed with alg.
func (k *key) fits(alg string) bool {
	if familyOf(alg) != k.fam || (k.alg != "" && k.alg != alg) {
		return false
	}
	if k.fam == famEC {
		return k.material.(*ecdsa.PublicKey).Curve == curveOf(alg)
	}
	return true
}

// keySet indexes keys by kid; keys without a kid are only in all.
type keySet struct {
	byKID map[string]*key
	all   []*key
}

func newKeySet(keys []*key) *keySet {
	s := &keySet{byKID: make(map[string]*key, len(keys)), all: keys}
	for _, k := range keys {
		if k.kid != "" {
			s.byKID[k.kid] = k
		}
	}
	return s
}

// fitting appends the keys of s that may verify alg.
func (s *keySet) fitting(dst []any, alg string) []any {
	for _, k := range s.all {
		if k.fits(alg) {
			dst = append(dst, k.material)
		}
	}
	return dst
}

// parseKeyConfig turns one inline key into a key, checking it against the
// route's algorithms.
func parseKeyConfig(kc KeyConfig, algs []string) (*key, error) {
	if (kc.Secret == "") == (kc.PublicKey == "") {
		return nil, errors.New("set exactly one of secret (HS algorithms) or public_key (PEM)")
	}
	k := &key{kid: kc.KID, alg: kc.Alg}
	if kc.Secret != "" {
		if len(kc.Secret) < minHMACSecret {
			return nil, fmt.Errorf("secret must be at least %d bytes", minHMACSecret)
		}
		k.fam, k.material = famHMAC, []byte(kc.Secret)
	} else {
		pub, err := parsePEMPublicKey([]byte(kc.PublicKey))
		if err != nil {
			return nil, err
		}
		if k.fam, err = familyOfKey(pub); err != nil {
			return nil, err
		}
		k.material = pub
	}
	return k, checkKeyAlgorithms(k, algs)
}

// checkKeyAlgorithms makes sure the key's own alg is allowed and fits it, and
// that at least one route algorithm can use it (else it is a config mistake).
func checkKeyAlgorithms(k *key, algs []string) error {
	if k.alg != "" {
		if !slices.Contains(algs, k.alg) {
			return fmt.Errorf("alg %q is not in algorithms", k.alg)
		}
		if !k.fits(k.alg) {
			return fmt.Errorf("alg %q does not fit this key's type", k.alg)
		}
		return nil
	}
	for _, a := range algs {
		if k.fits(a) {
			return nil
		}
	}
	return errors.New("no algorithm in algorithms can use this key (an HMAC secret needs an HS algorithm, an RSA key RS/PS, an EC key the ES algorithm of its curve, an Ed25519 key EdDSA)")
}

// parsePEMPublicKey reads a PUBLIC KEY, RSA PUBLIC KEY or CERTIFICATE block.
func parsePEMPublicKey(data []byte) (any, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, errors.New("public_key is not PEM")
	}
	switch block.Type {
	case "PUBLIC KEY":
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("public_key: not a valid PKIX public key")
		}
		return pub, nil
	case "RSA PUBLIC KEY":
		pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, errors.New("public_key: not a valid PKCS #1 RSA public key")
		}
		return pub, nil
	case "CERTIFICATE":
		cert, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, errors.New("public_key: not a valid certificate")
		}
		return cert.PublicKey, nil
	}
	return nil, fmt.Errorf("public_key: PEM block %q is not a public key or certificate", block.Type)
}

func familyOfKey(pub any) (family, error) {
	switch p := pub.(type) {
	case *rsa.PublicKey:
		if p.N.BitLen() < minRSABits {
			return 0, fmt.Errorf("RSA keys must have at least %d bits", minRSABits)
		}
		return famRSA, nil
	case *ecdsa.PublicKey:
		switch p.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
			return famEC, nil
		}
		return 0, errors.New("EC keys must use P-256, P-384 or P-521")
	case ed25519.PublicKey:
		return famEd25519, nil
	}
	return 0, fmt.Errorf("unsupported public key type %T", pub)
}
