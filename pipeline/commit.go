package pipeline

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// commitLoop commits finished offsets every commit_interval.
func (s *Service) commitLoop(ctx context.Context) {
	t := time.NewTicker(s.cfg.CommitInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.commit(ctx, nil)
		}
	}
}

// commit commits the finished offsets of the given partitions (all when
// nil).
func (s *Service) commit(ctx context.Context, only map[string][]int32) {
	if s.cfg.DryRun {
		return
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	offs := s.tracker.committable(only)
	if len(offs) == 0 {
		return
	}
	// The priority lane's offsets are its own group's, committed through
	// its own client.
	var prio map[string]map[int32]kgo.EpochOffset
	if s.prio != nil {
		if ps, ok := offs[s.prio.topic]; ok {
			delete(offs, s.prio.topic)
			prio = map[string]map[int32]kgo.EpochOffset{s.prio.topic: ps}
		}
	}
	if len(offs) > 0 {
		s.commitWith(ctx, s.cl, offs)
	}
	if prio != nil && s.prio.cl != nil {
		s.commitWith(ctx, s.prio.cl, prio)
	}
}

// commitWith commits offs through cl (whose group owns them).
func (s *Service) commitWith(ctx context.Context, cl *kgo.Client, offs map[string]map[int32]kgo.EpochOffset) {
	var cerr error
	cl.CommitOffsetsSync(ctx, offs, func(_ *kgo.Client, _ *kmsg.OffsetCommitRequest, resp *kmsg.OffsetCommitResponse, err error) {
		if err != nil {
			cerr = err
			return
		}
		for _, t := range resp.Topics {
			for _, p := range t.Partitions {
				if err := kerr.ErrorForCode(p.ErrorCode); err != nil {
					cerr = errors.Join(cerr, fmt.Errorf("%s/%d: %w", t.Topic, p.Partition, err))
				}
			}
		}
	})
	if cerr != nil {
		s.m.commits.WithLabelValues("error").Inc()
		s.log.Warn("offset commit failed; will retry", "err", cerr)
		return
	}
	s.m.commits.WithLabelValues("ok").Inc()
	s.tracker.committed(offs)
}

// waitSink waits until the partitions' documents have left the sink (or ctx
// ends).
func (s *Service) waitSink(ctx context.Context, parts map[string][]int32) {
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for s.tracker.inSink(parts) {
		select {
		case <-ctx.Done():
			s.log.Warn("drain timed out; unfinished records will be read again", "timeout", s.cfg.DrainTimeout)
			return
		case <-t.C:
		}
	}
}

// onRevoked finishes what it can of the revoked partitions and commits it
// before the partitions move: held spans are dropped (the new owner reads
// them again), documents in the sink get DrainTimeout.
func (s *Service) onRevoked(ctx context.Context, _ *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	s.mu.Lock()
	s.traces.drop(revoked)
	s.dropBacklog(revoked)
	if s.apm != nil {
		s.apm.close(revoked)
	}
	s.m.heldSpans.Set(float64(s.traces.held))
	s.mu.Unlock()
	s.sink.flush()
	s.drainRevoked(ctx, revoked)
}

// drainRevoked gives the revoked partitions' documents, already flushed,
// DrainTimeout to finish, commits what did and forgets the partitions.
func (s *Service) drainRevoked(ctx context.Context, revoked map[string][]int32) {
	dctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	s.waitSink(dctx, revoked)
	s.commit(dctx, revoked)
	s.forget(revoked)
}

// onLost forgets lost partitions; committing them would fail.
func (s *Service) onLost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	s.mu.Lock()
	s.traces.drop(lost)
	s.dropBacklog(lost)
	if s.apm != nil {
		s.apm.drop(lost)
	}
	s.mu.Unlock()
	s.forget(lost)
}

// dropBacklog removes the partitions' records from the backlog: they were
// never taken in, so nothing was committed past them.
func (s *Service) dropBacklog(parts map[string][]int32) {
	s.backlog = withoutPartitions(s.backlog, parts)
}

// withoutPartitions filters backlog in place, keeping the records of other
// partitions than parts'.
func withoutPartitions(backlog []*kgo.Record, parts map[string][]int32) []*kgo.Record {
	kept := backlog[:0]
	for _, r := range backlog {
		if !contains(parts[r.Topic], r.Partition) {
			kept = append(kept, r)
		}
	}
	clear(backlog[len(kept):])
	return kept
}

func (s *Service) forget(parts map[string][]int32) {
	if s.canaries != nil {
		s.canaries.Forget(parts)
	}
	for _, e := range s.tracker.remove(parts) {
		if e.rec != nil {
			e.rec.giveBack()
		}
	}
	for topic, ps := range parts {
		for _, p := range ps {
			s.m.lag.DeleteLabelValues(topic, fmt.Sprint(p))
		}
	}
}
