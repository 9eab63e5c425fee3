package config

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

type testRule struct {
	Name string        `yaml:"name"`
	For  time.Duration `yaml:"for"`
}

type testKafka struct {
	Brokers []string `yaml:"brokers"`
	Secret  Secret   `yaml:"password"`
}

type testConfig struct {
	Kafka  testKafka           `yaml:"kafka"`
	Rules  []testRule          `yaml:"rules"`
	Routes map[string]testRule `yaml:"routes"`
	Size   int                 `yaml:"size"`
}

func (c testConfig) Validate() error {
	var p Problems
	if len(c.Kafka.Brokers) == 0 {
		p.Addf("kafka.brokers", "must not be empty")
	}
	for i, r := range c.Rules {
		if r.For < 0 {
			p.Addf(Join("rules", "["+strconv.Itoa(i)+"]")+".for", "must be >= 0 (got %s)", r.For)
		}
	}
	return p.Err()
}

// RenamedKeys: kafka.topic was renamed, and a top-level "brokers" moved
// into the kafka section.
func (testConfig) RenamedKeys() map[string]string {
	return map[string]string{"kafka.topic": "kafka.brokers", "brokers": "kafka.brokers"}
}

func TestDecode(t *testing.T) {
	t.Setenv("VIGIL_TEST_BROKER", "127.0.0.1:9092")
	for _, tc := range []struct {
		name  string
		yaml  string
		wants []string // each must appear in the error; none = valid
		check func(t *testing.T, c testConfig)
	}{
		{
			name: "valid with env and default",
			yaml: "kafka:\n  brokers: [\"${VIGIL_TEST_BROKER}\", \"${VIGIL_TEST_NOPE:-b:1}\"]\nsize: 3\n",
			check: func(t *testing.T, c testConfig) {
				require.Equal(t, []string{"127.0.0.1:9092", "b:1"}, c.Kafka.Brokers)
				require.Equal(t, 3, c.Size)
			},
		},
		{
			name: "collector-style env syntax",
			yaml: "kafka:\n  brokers: [\"${env:VIGIL_TEST_BROKER}\"]\n",
			check: func(t *testing.T, c testConfig) {
				require.Equal(t, []string{"127.0.0.1:9092"}, c.Kafka.Brokers)
			},
		},
		{
			name:  "unknown nested key with suggestion, and validation still runs",
			yaml:  "kafka:\n  brokerz: [a:1]\n",
			wants: []string{`kafka.brokerz: unknown key (did you mean "brokers"?)`, "kafka.brokers: must not be empty"},
		},
		{
			name:  "unknown key in list element and map value",
			yaml:  "kafka: {brokers: [a:1]}\nrules:\n  - name: x\n    fro: 1s\nroutes:\n  r1: {nam: y}\n",
			wants: []string{"rules[0].fro: unknown key", "routes.r1.nam: unknown key"},
		},
		{
			name:  "validation problems with paths",
			yaml:  "rules:\n  - {name: a, for: -5s}\n",
			wants: []string{"kafka.brokers: must not be empty", "rules[0].for: must be >= 0 (got -5s)"},
		},
		{
			name:  "type error mapped to its path",
			yaml:  "kafka: {brokers: [a:1]}\nsize: big\n",
			wants: []string{"size: cannot unmarshal string `big` into int"},
		},
		{
			name:  "duration type error",
			yaml:  "kafka: {brokers: [a:1]}\nrules:\n  - for: soon\n",
			wants: []string{"rules[0].for: cannot unmarshal string `soon` into time.Duration"},
		},
		{
			name:  "unset variable",
			yaml:  "kafka: {brokers: [\"${VIGIL_TEST_UNSET_X}\"]}\n",
			wants: []string{"environment variable VIGIL_TEST_UNSET_X is referenced but not set"},
		},
		{
			name:  "not yaml",
			yaml:  "kafka: [\n",
			wants: []string{"not valid YAML"},
		},
		{
			name:  "empty file keeps defaults and validates them",
			yaml:  "",
			wants: []string{"kafka.brokers: must not be empty"},
		},
		{
			name:  "renamed and moved keys name their new key",
			yaml:  "kafka: {topic: [a:1]}\nbrokers: [a:1]\n",
			wants: []string{"kafka.topic: renamed: write it as kafka.brokers", "brokers: renamed: write it as kafka.brokers"},
		},
		{
			name: "dollar escape",
			yaml: "kafka: {brokers: [\"a$$b\"]}\n",
			check: func(t *testing.T, c testConfig) {
				require.Equal(t, []string{"a$b"}, c.Kafka.Brokers)
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var c testConfig
			err := Decode([]byte(tc.yaml), &c)
			if len(tc.wants) == 0 {
				require.NoError(t, err)
				if tc.check != nil {
					tc.check(t, c)
				}
				return
			}
			require.Error(t, err)
			for _, w := range tc.wants {
				require.Contains(t, err.Error(), w)
			}
		})
	}
}

func TestLoadNamesFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.yaml")
	require.NoError(t, os.WriteFile(p, []byte("size: 1\n"), 0o600))
	var c testConfig
	err := Load(p, &c)
	require.ErrorContains(t, err, p+": invalid configuration (1 problem):\n  kafka.brokers: must not be empty")

	err = Load(filepath.Join(t.TempDir(), "missing.yaml"), &c)
	require.ErrorContains(t, err, "missing.yaml: no such file")
}

func TestSecret(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "token")
	require.NoError(t, os.WriteFile(file, []byte("s3cret\n"), 0o600))
	empty := filepath.Join(dir, "empty")
	require.NoError(t, os.WriteFile(empty, nil, 0o600))
	t.Setenv("VIGIL_TEST_TOKEN", "from-env")
	for _, tc := range []struct {
		name, yaml, want, err, str string
	}{
		{name: "env", yaml: "password: {env: VIGIL_TEST_TOKEN}", want: "from-env", str: "env:VIGIL_TEST_TOKEN"},
		{name: "file trims newline", yaml: "password: {file: " + file + "}", want: "s3cret", str: "file:" + file},
		{name: "literal", yaml: "password: hunter2", want: "hunter2", str: "<redacted>"},
		{name: "unset env", yaml: "password: {env: VIGIL_TEST_NOPE}", err: "environment variable VIGIL_TEST_NOPE is not set"},
		{name: "empty file", yaml: "password: {file: " + empty + "}", err: "is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var k testKafka
			k.Brokers = []string{"x"}
			require.NoError(t, decodeRaw([]byte(tc.yaml), &k))
			v, err := k.Secret.Resolve()
			if tc.err != "" {
				require.ErrorContains(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, v)
			require.Equal(t, tc.str, k.Secret.String())
			require.NotContains(t, k.Secret.String(), "hunter2")
		})
	}

	var k testKafka
	err := decodeRaw([]byte("password: {env: A, file: /b}"), &k)
	require.ErrorContains(t, err, "set only one of env, file and value")
}

func (testKafka) Validate() error { return nil }

func decodeRaw(b []byte, v Validator) error { return Decode(b, v) }
