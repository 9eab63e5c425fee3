package statetopic

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestStore(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	open := func() *Store {
		s, err := New("state", kgo.SeedBrokers(c.ListenAddrs()...))
		require.NoError(t, err)
		t.Cleanup(s.Close)
		return s
	}

	s := open()
	require.NoError(t, s.Ensure(ctx))
	require.NoError(t, s.Ensure(ctx), "an existing topic is fine")
	got, err := s.Load(ctx)
	require.NoError(t, err)
	require.Empty(t, got)

	require.NoError(t, s.Put(ctx, "target/a", []byte("1")))
	require.NoError(t, s.Put(ctx, "target/b", []byte("1")))
	require.NoError(t, s.Put(ctx, "target/a", []byte("2")))
	require.NoError(t, s.Put(ctx, "silence/x", []byte("s")))
	require.NoError(t, s.Put(ctx, "target/b", nil))

	got, err = open().Load(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"target/a": []byte("2"), "silence/x": []byte("s")}, got)
}
