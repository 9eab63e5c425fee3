package alerting

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/internal/config"
)

var wantErr = regexp.MustCompile(`(?m)^# error: (.*)$`)

func TestConfigFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/config/*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cfg := DefaultConfig()
			err := config.Load(f, &cfg)
			if strings.HasSuffix(f, ".good.yaml") {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			raw, rerr := os.ReadFile(f)
			require.NoError(t, rerr)
			wants := wantErr.FindAllStringSubmatch(string(raw), -1)
			require.NotEmpty(t, wants, "a .bad.yaml names its errors in '# error:' lines")
			for _, w := range wants {
				require.Contains(t, err.Error(), w[1])
			}
		})
	}
}

func TestShippedConfig(t *testing.T) {
	t.Setenv("SLACK_BOT_TOKEN", "")
	cfg := DefaultConfig()
	require.NoError(t, config.Load("../configs/alerting.yaml", &cfg))
	require.Equal(t, slack.ModeConsole, cfg.Slack.Mode(), "no token: console mode for local runs")
	require.Equal(t, "alerts", cfg.DefaultRoute.Channel)
	require.False(t, cfg.API.Token.IsSet())

	t.Setenv("SLACK_BOT_TOKEN", "xoxb-1")
	cfg = DefaultConfig()
	require.NoError(t, config.Load("../configs/alerting.yaml", &cfg))
	require.Equal(t, slack.ModeBot, cfg.Slack.Mode())
}

func TestDefaultConfigValid(t *testing.T) {
	require.NoError(t, DefaultConfig().Validate())
}
