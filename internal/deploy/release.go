package deploy

// ReleaseFlags returns the go build flags of every binary srvmon ships:
// the Makefile's GOFLAGS_RELEASE, the Dockerfile's go build lines, and so
// the Lambda bootstraps of template.yaml (the tests of this package check
// that each of them uses exactly these). lambda.norpc leaves out
// aws-lambda-go's RPC mode, which only the retired go1.x runtime used.
// nethttpomithttp2 leaves out net/http's HTTP/2, half a megabyte that
// srvmon never uses: its server speaks plain HTTP (TLS ends at a proxy or
// API Gateway, and h2c is off), its probes use HTTP/1.1 anyway (a
// Transport with its own dialer and TLS config does not try HTTP/2), and
// webhooks and remote checks need nothing more. -s -w strips the symbol
// table and DWARF.
func ReleaseFlags() []string {
	return []string{"-trimpath", "-tags=lambda.norpc,nethttpomithttp2", "-ldflags=-s -w"}
}

// ReleaseEnv returns what every shipped binary's go build adds to the
// environment: no cgo, so that the binary is static and runs on
// distroless, scratch and provided.al2023 alike.
func ReleaseEnv() []string {
	return []string{"CGO_ENABLED=0"}
}

// LambdaEnv returns the environment of the Lambda bootstraps' go build:
// ReleaseEnv for template.yaml's Architectures (arm64) on Linux, as the
// Makefile's LAMBDA_ENV sets it.
func LambdaEnv() []string {
	return append([]string{"GOOS=linux", "GOARCH=arm64"}, ReleaseEnv()...)
}
