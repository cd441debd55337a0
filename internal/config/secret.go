package config

import (
	"errors"
	"fmt"
)

// MinForwardAuthSecret is the length RP_FORWARD_AUTH_SECRET must have at
// least: `openssl rand -base64 32` makes 44 characters, `openssl rand -hex
// 16` 32.
const MinForwardAuthSecret = 32

// checkForwardAuthSecret refuses an RP_FORWARD_AUTH_SECRET that a browser
// could guess or that a proxy's configuration would read differently. It
// never quotes the secret.
//
// A random secret passes: at least MinForwardAuthSecret characters of
// base64, base64url or hex. What people type instead mostly fails: fewer
// than 8 different characters, or mostly a shorter piece repeated
// ("changeme-changeme-..."). The check cannot measure randomness; it
// catches the usual stand-ins for it.
func checkForwardAuthSecret(s string) error {
	for i := 0; i < len(s); i++ {
		if !secretChar(s[i]) {
			return errors.New("may hold only letters, digits and + / = _ - . ~ (base64, base64url or hex), " +
				"so that every proxy's configuration reads it as it is; make one with: openssl rand -base64 32")
		}
	}
	if len(s) < MinForwardAuthSecret {
		return fmt.Errorf("has %d characters, want at least %d random ones; make one with: openssl rand -base64 32", len(s), MinForwardAuthSecret)
	}
	if guessable(s) {
		return errors.New("does not look random (few different characters, or a piece repeated); make one with: openssl rand -base64 32")
	}
	return nil
}

// guessable reports whether a secret is one of the usual stand-ins for a
// random one: fewer than 8 different characters, or mostly a shorter
// piece repeated.
func guessable(s string) bool {
	distinct := map[byte]bool{}
	for i := 0; i < len(s); i++ {
		distinct[s[i]] = true
	}
	return len(distinct) < 8 || repeats(s)
}

func secretChar(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '+', '/', '=', '_', '-', '.', '~':
		return true
	}
	return false
}

// repeats reports whether s is mostly a shorter piece written again and
// again: for some shift p, three quarters or more of its characters equal
// the one p places before ("abcabcab", "secret1secret1!"). In a random
// string of 16 or more symbols about one in 16 does.
func repeats(s string) bool {
	for p := 1; p <= len(s)/2; p++ {
		same := 0
		for i := p; i < len(s); i++ {
			if s[i] == s[i-p] {
				same++
			}
		}
		if 4*same >= 3*(len(s)-p) {
			return true
		}
	}
	return false
}
