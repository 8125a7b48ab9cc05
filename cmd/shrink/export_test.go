package main

import "github.com/shrink-llm/shrink/distill"

// replanSteps is the schedule re-planning the training loop of package
// shrink uses (TestReplanSteps).
var replanSteps = distill.ReplanSteps
