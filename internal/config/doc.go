// Package config loads Vigil's YAML configuration files.
//
// Every component's configuration goes through Load, so that every file gets
// the same treatment: ${VAR} and ${VAR:-default} expansion from the
// environment, strict decoding (an unknown key is an error that names its
// path, with a suggestion when the key looks like a typo), and validation that
// reports every problem at once as "path: what is wrong", never only the first.
package config
