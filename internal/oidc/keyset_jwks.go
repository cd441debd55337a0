package oidc

import (
	"encoding/json"
	"fmt"

	jose "github.com/go-jose/go-jose/v4"
)

// verifiableAlgs are the signature algorithms go-oidc (and go-jose)
// verify; keys published for other algorithms are left out.
var verifiableAlgs = map[string]bool{
	"RS256": true, "RS384": true, "RS512": true,
	"ES256": true, "ES384": true, "ES512": true,
	"PS256": true, "PS384": true, "PS512": true,
	"EdDSA": true,
}

// parseJWKS reads a JWK Set as go-oidc's remote key set does, keeping the
// keys a signature can be verified with: a key for another algorithm (an
// encryption key such as Keycloak's RSA-OAEP one, ES256K) or of a type
// go-jose does not know is ignored, as RFC 7517 section 5 asks, rather
// than failing the whole set.
func parseJWKS(body []byte) ([]jose.JSONWebKey, error) {
	var set struct {
		Keys []json.RawMessage `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("oidc: decoding the JWKS: %w", err)
	}
	var keys []jose.JSONWebKey
	for _, raw := range set.Keys {
		var meta struct {
			Alg string `json:"alg"`
			Use string `json:"use"`
		}
		if json.Unmarshal(raw, &meta) != nil || (meta.Alg != "" && !verifiableAlgs[meta.Alg]) || meta.Use == "enc" {
			continue
		}
		var key jose.JSONWebKey
		if json.Unmarshal(raw, &key) != nil || !key.Valid() || !key.IsPublic() {
			continue
		}
		keys = append(keys, key)
	}
	return keys, nil
}
