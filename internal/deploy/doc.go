// Package deploy holds the tests of srvmon's deployment files, which live
// outside Go code: template.yaml (AWS SAM) with the Makefile that builds
// its Lambda bootstraps, docker/ (Dockerfile, compose.yaml and the
// checker loop), and deploy/ (systemd units, the crontab line, example
// settings). The tests parse each file and check it against the code it
// deploys: the main packages under cmd/, their flags, and the environment
// names of every config field. Its benchmarks measure what a deployment
// cares about: binary sizes, time from exec to the first 2xx, idle memory.
//
// Its code, shared with internal/lambdatest, says how the shipped binaries
// are built (ReleaseFlags, ReleaseEnv, LambdaEnv) and evaluates
// template.yaml for parameter values as CloudFormation would (ReadTemplate,
// NewStack), so that the Lambda end-to-end tests run the bootstraps as
// they ship, with the environment the template gives them.
package deploy
