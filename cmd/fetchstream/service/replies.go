package service

import "github.com/fetchstream/fetchstream/connectors"

// replyPolicy is where cfg lets replies go: Subjects.Replies, never a
// subject the service reads or publishes (input, micro endpoint,
// results, summaries, dead letters). Refusals name --reply-subjects.
func replyPolicy(cfg *Config) *connectors.ReplyPolicy {
	served := []string{cfg.Subjects.In, cfg.Subjects.Micro, cfg.Subjects.Out, cfg.Subjects.Batches}
	if cfg.JetStream.Enabled {
		served = append(served, cfg.JetStream.DeadLetter)
	}
	return &connectors.ReplyPolicy{Allowed: cfg.Subjects.Replies, Served: served, Setting: "--reply-subjects"}
}
