# srvmon's builds. `go run ./cmd/standalone` and `./scripts/test` need no make;
# this file is for deployments:
#
#   make build                 the three binaries for this machine, in bin/
#   sudo make install          bin/ into $(DESTDIR)$(PREFIX)/bin, for a VPS (after make build)
#   make install-systemd       and the systemd units into /etc/systemd/system
#   sam build                  runs build-CheckerFunction and build-ApiFunction
#
# Every binary is static (CGO_ENABLED=0), stripped, built with -trimpath
# and -tags lambda.norpc: aws-lambda-go's RPC mode serves only the retired
# go1.x runtime (provided.al2023 talks to the Runtime API directly), and
# leaving it out drops net/rpc and its html/template debug page from the
# checker, 2.3 MB; -tags nethttpomithttp2 drops net/http's HTTP/2, which
# srvmon never uses (see internal/deploy/release.go), half a megabyte
# from each. cmd/api and cmd/checker link only the PostgreSQL and memory
# stores (internal/app.SharedStores). The Lambda bootstraps are built for linux/arm64
# (template.yaml's Architectures). internal/deploy's ReleaseFlags,
# ReleaseEnv and LambdaEnv say the same, and its tests hold this file and
# docker/Dockerfile to them.

GO       ?= go
PREFIX   ?= /usr/local
BINDIR   ?= $(PREFIX)/bin
UNITDIR  ?= /etc/systemd/system
GOFLAGS_RELEASE := -trimpath -tags=lambda.norpc,nethttpomithttp2 -ldflags='-s -w'
LAMBDA_ENV  := GOOS=linux GOARCH=arm64 CGO_ENABLED=0

BINARIES := bin/srvmon-checker bin/srvmon-api bin/srvmon-standalone

.PHONY: build install install-systemd test clean \
	build-CheckerFunction build-ApiFunction artifacts-dir

build: $(BINARIES)

bin/srvmon-%: FORCE
	CGO_ENABLED=0 $(GO) build $(GOFLAGS_RELEASE) -o $@ ./cmd/$*

# No dependency on build: under sudo, go is often not on the PATH.
install:
	install -d $(DESTDIR)$(BINDIR)
	install -m 0755 $(BINARIES) $(DESTDIR)$(BINDIR)/

install-systemd:
	install -d $(DESTDIR)$(UNITDIR)
	install -m 0644 deploy/systemd/*.service deploy/systemd/*.timer $(DESTDIR)$(UNITDIR)/

# sam build (BuildMethod: makefile) sets ARTIFACTS_DIR; the runtime runs
# the file named bootstrap.
build-CheckerFunction: artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(GOFLAGS_RELEASE) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/checker

build-ApiFunction: artifacts-dir
	$(LAMBDA_ENV) $(GO) build $(GOFLAGS_RELEASE) -o $(ARTIFACTS_DIR)/bootstrap ./cmd/api

artifacts-dir:
	@test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it" >&2; exit 1; }

test:
	./scripts/test

clean:
	rm -rf bin .aws-sam

FORCE:
