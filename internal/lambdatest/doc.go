// Package lambdatest tests srvmon's AWS Lambda deployment end to end with
// no AWS account: its tests build the two bootstrap binaries (cmd/checker
// and cmd/api, with the release flags and environment of
// internal/deploy, as the Makefile builds them for sam build, but for
// this machine's architecture) and the AWS Lambda Runtime Interface
// Emulator, run each bootstrap under the emulator on loopback, with the
// environment template.yaml gives its function, against a fresh
// PostgreSQL database from pgtest, invoke them with the events the
// platform sends (HTTP API payload 2.0 requests, EventBridge scheduled
// events) and check the answers and the stored rows.
//
// The package holds tests and benchmarks only:
//
//	go test ./internal/lambdatest/
//	go test -run '^$' -bench . -benchtime 10x ./internal/lambdatest/
//
// The benchmarks time a bootstrap's first invocation (process start, init,
// first event: what a cold start adds) from the moment the emulator
// listens, against a warm invocation, and the checker's first scheduled
// round end to end.
package lambdatest
