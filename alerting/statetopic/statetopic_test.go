package statetopic

import (
	"testing"
	"time"

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

// TestFencedStore: a second holder of the transactional ID fences the first,
// whose writes then fail; loading sees only committed writes.
func TestFencedStore(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	require.NoError(t, err)
	defer c.Close()
	ctx := t.Context()
	open := func() *Store {
		s, err := NewFenced("state", "alerting", 10*time.Second, kgo.SeedBrokers(c.ListenAddrs()...))
		require.NoError(t, err)
		t.Cleanup(s.Close)
		return s
	}
	a := open()
	require.NoError(t, a.Ensure(ctx))
	require.NoError(t, a.Fence(ctx, "leader/alerting", []byte("a")))
	require.NoError(t, a.Put(ctx, "target/x", []byte("1")))

	b := open()
	require.NoError(t, b.Fence(ctx, "leader/alerting", []byte("b")))
	err = a.Put(ctx, "target/x", []byte("stale"))
	require.Error(t, err, "the fenced holder cannot write")
	require.True(t, IsFenced(err), "%v", err)
	require.NoError(t, b.Put(ctx, "target/x", []byte("2")))

	got, err := b.Load(ctx)
	require.NoError(t, err)
	require.Equal(t, map[string][]byte{"leader/alerting": []byte("b"), "target/x": []byte("2")}, got)

	require.Error(t, (&Store{}).Fence(ctx, "k", nil), "fencing needs NewFenced")
}
