package connectors_test

import (
	"errors"
	"testing"
	"time"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/wire"
)

// Each config refuses a bad field with a *wire.ConfigError naming it and
// wrapping ErrConfig, before any I/O (the constructors get no
// connection here), and accepts a 0 where its doc gives it a meaning.
func TestConfigErrorsNameTheField(t *testing.T) {
	setup := connectors.ConsumerSetup{Stream: "S", Subject: "in", Durable: "d", AckWait: time.Second, MaxDeliver: 2, MaxAckPending: 1}
	withSetup := func(edit func(*connectors.ConsumerSetup)) connectors.ConsumerSetup {
		s := setup
		edit(&s)
		return s
	}
	source := func(cfg connectors.JetStreamSourceConfig) error {
		_, err := connectors.NewJetStreamSource(t.Context(), nil, cfg)
		return err
	}
	publisher := func(cfg connectors.PublisherConfig) error {
		_, err := connectors.NewPublisher(t.Context(), nil, cfg)
		return err
	}
	store := func(cfg connectors.ObjectStoreConfig) error {
		_, err := connectors.NewObjectStore(t.Context(), nil, cfg, nil)
		return err
	}
	for _, tc := range []struct {
		err   error
		field string
	}{
		{withSetup(func(s *connectors.ConsumerSetup) { s.Stream = "" }).Validate(), "Stream"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.Stream = "a.b" }).Validate(), "Stream"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.Subject = "" }).Validate(), "Subject"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.Durable = "" }).Validate(), "Durable"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.AckWait = time.Millisecond }).Validate(), "AckWait"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.MaxDeliver = 1 }).Validate(), "MaxDeliver"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.MaxAckPending = 0 }).Validate(), "MaxAckPending"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.SetupTimeout = -1 }).Validate(), "SetupTimeout"},
		{withSetup(func(s *connectors.ConsumerSetup) { s.Replicas = 6 }).Validate(), "Replicas"},
		{source(connectors.JetStreamSourceConfig{ConsumerSetup: setup}), "MaxPending"},
		{source(connectors.JetStreamSourceConfig{ConsumerSetup: setup, MaxPending: 1, MaxWaiting: -1}), "MaxWaiting"},
		{source(connectors.JetStreamSourceConfig{ConsumerSetup: setup, MaxPending: 1}), "DeadLetter"},
		{connectors.ResultsStreamConfig{Name: "R"}.Validate(), "Subjects"},
		{connectors.ResultsStreamConfig{Name: "R", Subjects: []string{"o"}, MaxAge: time.Millisecond}.Validate(), "MaxAge"},
		{connectors.ResultsStreamConfig{Name: "R", Subjects: []string{"o"}, MaxAge: time.Hour, Duplicates: 2 * time.Hour}.Validate(), "Duplicates"},
		{store(connectors.ObjectStoreConfig{Bucket: "a b"}), "Bucket"},
		{store(connectors.ObjectStoreConfig{Bucket: "b", TTL: -1}), "TTL"},
		{publisher(connectors.PublisherConfig{Batches: "b"}), "Results"},
		{publisher(connectors.PublisherConfig{Results: "r"}), "Batches"},
		{publisher(connectors.PublisherConfig{Results: "r", Batches: "b", RetryFor: time.Millisecond}), "RetryFor"},
		{publisher(connectors.PublisherConfig{Results: "r", Batches: "b", AckTimeout: -1}), "AckTimeout"},
		{connectors.CoreSourceConfig{Subject: "in", PendingMsgs: -1}.Validate(), "PendingMsgs"},
		{connectors.CoreSourceConfig{Subject: "in", PendingBytes: 100}.Validate(), "PendingBytes"},
		{connectors.MicroConfig{Name: "n", Subject: "s", PendingBytes: -1}.Validate(), "PendingBytes"},
		{connectors.MicroConfig{Subject: "s"}.Validate(), "Name"},
	} {
		var ce *wire.ConfigError
		if !errors.As(tc.err, &ce) || ce.Field != tc.field || !errors.Is(tc.err, connectors.ErrConfig) {
			t.Errorf("got %v, want a wire.ConfigError naming %s", tc.err, tc.field)
		}
	}
	for _, err := range []error{
		setup.Validate(),
		withSetup(func(s *connectors.ConsumerSetup) { s.MaxDeliver, s.Replicas = -1, 0 }).Validate(),
		connectors.ResultsStreamConfig{Name: "R", Subjects: []string{"o"}}.Validate(), // MaxAge 0: the default
		connectors.ObjectStoreConfig{Bucket: "b"}.Validate(),                          // TTL 0: for ever
		connectors.PublisherConfig{Results: "r", Batches: "b"}.Validate(),             // RetryFor 0: the default
		connectors.CoreSourceConfig{Subject: "in"}.Validate(),                         // pending 0: nats.go's
	} {
		if err != nil {
			t.Errorf("refused: %v", err)
		}
	}
}
