package alerting

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vigil-dev/vigil/alerting/slack"
	"github.com/vigil-dev/vigil/internal/config"
	"github.com/vigil-dev/vigil/internal/config/configtest"
)

func TestConfigFiles(t *testing.T) {
	configtest.Fixtures(t, "testdata/config/*.yaml", func(path string) error {
		cfg := DefaultConfig()
		return config.Load(path, &cfg)
	})
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
