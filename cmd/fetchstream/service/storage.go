package service

import (
	"context"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/stages/httpfetch"
)

// setUpStorage finds or creates the results stream and the object store
// bucket Config.Storage names, before the pipeline starts: the publisher
// then finds the results subjects in a stream (and, in JetStream mode,
// waits for its acks), and the fetcher gets the bucket for large bodies.
// Each waits out elections and a lost node until setUpBy.
func (s *Service) setUpStorage(ctx context.Context, setUpBy time.Time, nc *nats.Conn, fetcher *httpfetch.Config) error {
	st := &s.cfg.Storage
	ctx, cancel := context.WithDeadline(ctx, setUpBy)
	defer cancel()
	if st.ResultsStream != "" {
		if err := connectors.EnsureResultsStream(ctx, nc, s.cfg.resultsStreamConfig(), s.log); err != nil {
			return err
		}
	}
	if st.ObjectStore != "" {
		store, err := connectors.NewObjectStore(ctx, nc, st.objectStoreConfig(), s.log)
		if err != nil {
			return err
		}
		fetcher.Objects, fetcher.MaxObject = store, st.MaxObject
		s.log.Info("bodies over the inline cap go to the object store", "bucket", st.ObjectStore,
			"max_body", fetcher.MaxBody, "max_object", st.MaxObject)
	}
	return nil
}
