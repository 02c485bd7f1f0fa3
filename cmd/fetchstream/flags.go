package main

import (
	"flag"

	"github.com/fetchstream/fetchstream/cmd/fetchstream/service"
)

// subjectFlags are the wire subjects, as watch takes them.
type subjectFlags struct {
	in, out, batches string
}

func (s *subjectFlags) register(fs *flag.FlagSet) {
	d := service.Defaults().Subjects
	fs.StringVar(&s.in, "in", d.In, "subject batches arrive on")
	fs.StringVar(&s.out, "out", d.Out, "subject results are published on")
	fs.StringVar(&s.batches, "batches-subject", d.Batches, "subject batch summaries are published on")
}
