package main

import (
	"flag"
	"fmt"
	"time"

	"github.com/fetchstream/fetchstream/connectors"
	"github.com/fetchstream/fetchstream/wire"
)

// durabilityFlags choose between core NATS (at-most-once) and JetStream
// (at-least-once) input, and bound what a replica buffers.
type durabilityFlags struct {
	jetStream     bool
	stream        string
	durable       string
	ackWait       time.Duration
	maxDeliver    int
	maxAckPending int
	deadLetter    string

	pendingBatches int
	pendingBytes   byteSize
}

func (d *durabilityFlags) register(fs *flag.FlagSet) {
	fs.BoolVar(&d.jetStream, "jetstream", false, "take batches from a durable JetStream consumer (at-least-once: a batch is acked only once its results are published) instead of a core NATS queue group (at-most-once)")
	fs.StringVar(&d.stream, "stream", connectors.DefaultStream, "--jetstream: stream over --in, created if absent (an existing one is used unchanged)")
	fs.StringVar(&d.durable, "durable", connectors.DefaultDurable, "--jetstream: durable pull consumer shared by all replicas, created if absent (an existing one is used unchanged)")
	fs.DurationVar(&d.ackWait, "ack-wait", connectors.DefaultAckWait, "--jetstream: a created consumer's AckWait: a killed replica's batches are delivered again this long after its last sign of life")
	fs.IntVar(&d.maxDeliver, "max-deliver", connectors.DefaultMaxDeliver, "--jetstream: a created consumer's MaxDeliver: a batch is fetched at most this many times minus one, and on its last delivery it goes to --dead-letter instead (-1: no limit)")
	fs.IntVar(&d.maxAckPending, "max-ack-pending", connectors.DefaultMaxAckPending, "--jetstream: a created consumer's MaxAckPending: batches in progress across all replicas at most (each replica takes at most --max-active+2)")
	fs.StringVar(&d.deadLetter, "dead-letter", wire.DefaultDeadLetterSubject, "--jetstream: subject for batches given up on (undecodable, too large, or delivered --max-deliver times), with the reason in headers")
	fs.IntVar(&d.pendingBatches, "pending-batches", 1024, "core mode: batches a replica buffers beyond those in progress; past this NATS drops batches for it (a slow consumer, logged)")
	d.pendingBytes = 64 << 20
	fs.Var(&d.pendingBytes, "pending-bytes", "core mode: bytes of batches a replica buffers beyond those in progress; past this NATS drops batches for it")
}

func (d *durabilityFlags) validate(maxActive int) error {
	switch {
	case d.pendingBatches < 1:
		return fmt.Errorf("--pending-batches must be at least 1, got %d", d.pendingBatches)
	case d.pendingBytes < 1024:
		return fmt.Errorf("--pending-bytes must be at least 1KiB")
	case !d.jetStream:
		return nil
	case d.stream == "" || d.durable == "" || d.deadLetter == "":
		return fmt.Errorf("--stream, --durable and --dead-letter must not be empty")
	case d.ackWait < time.Second:
		return fmt.Errorf("--ack-wait must be at least 1s, got %s", d.ackWait)
	case d.maxDeliver != -1 && d.maxDeliver < 2:
		return fmt.Errorf("--max-deliver must be at least 2 (the last delivery is dead-lettered), or -1 for no limit; got %d", d.maxDeliver)
	case d.maxAckPending < 1:
		return fmt.Errorf("--max-ack-pending must be at least 1, got %d", d.maxAckPending)
	case d.maxAckPending < pullCredit(maxActive):
		return fmt.Errorf("--max-ack-pending (%d) must be at least --max-active+2 (%d), what one replica takes", d.maxAckPending, pullCredit(maxActive))
	}
	return nil
}

// pullCredit is how many batches a JetStream replica holds unsettled at
// most: what the fetch stage takes, and two waiting so it never idles.
func pullCredit(maxActive int) int { return maxActive + 2 }

func (d *durabilityFlags) consumerSetup(in string) connectors.ConsumerSetup {
	return connectors.ConsumerSetup{
		Stream: d.stream, Subject: in, Durable: d.durable,
		AckWait: d.ackWait, MaxDeliver: d.maxDeliver, MaxAckPending: d.maxAckPending,
	}
}
