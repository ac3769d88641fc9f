# chairside: the README's two commands are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo devel)
LDFLAGS := -s -w -X github.com/chairside/chairside/cmd/internal/buildinfo.stamped=$(VERSION)
FUZZTIME ?= 60s

.PHONY: all build test vet fmt-check bench fuzz cross demo clean accuracy

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/ ./cmd/...

## test: every test, with the race detector, after vet and a gofmt check.
test: vet fmt-check
	$(GO) test -race -count=1 ./...

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

## bench: engine, store and decoder throughput and allocations, then the
## real daemon on ptys and a real broker: alarm latency, CPU, RSS, store writes,
## the alarm latency while a 100 000-record backlog drains, and the recorder
## draining 100 000 queued records into SQLite and PostgreSQL.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./monitor/... ./drivers/...
	$(GO) test -run '^$$' -bench 'HILDaemon|HILDrain' -benchtime 1x ./cmd/chairside/
	$(GO) test -run '^$$' -bench 'Drain' -benchtime 1x ./cmd/recorder/

## fuzz: run every fuzz target for FUZZTIME each.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 1s $$pkg || exit 1; \
	  done; \
	done

## accuracy: SpO2 Arms and bias and pulse-rate error of monitor/ppg (and of
## the textbook baseline) on recordings: DATA=dir of CSV files in the
## ppgdata format, or OXIWEAR=dir of the OxiWear spo2-data/proto1 files
## (git clone https://github.com/aarusso/OxiWear; not in this repository);
## ARGS adds flags, e.g. ARGS='-minwindow 3s -lastonly' for short clips.
accuracy:
	@if [ -n "$(OXIWEAR)" ]; then args="-oxiwear $(OXIWEAR)"; \
	elif [ -n "$(DATA)" ]; then args="-data $(DATA)"; \
	else echo "usage: make accuracy DATA=dir | OXIWEAR=dir/spo2-data/proto1"; exit 2; fi; \
	$(GO) test -count=1 -run '^TestAccuracy$$' -v ./monitor/ppg/ppgdata -args $$args $(ARGS)

## cross: the Raspberry Pi builds (arm v6, v7, arm64), static.
cross:
	GOOS=linux GOARCH=arm GOARM=6 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/armv6/ ./cmd/...
	GOOS=linux GOARCH=arm GOARM=7 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/armv7/ ./cmd/...
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/arm64/ ./cmd/...

## deb: the Debian packages for the Raspberry Pi (arm64; armhf = ARMv7, Pi
## 2/3/4 on 32-bit; armel = ARMv6, Pi Zero/1) in bin/deb/, with dpkg-deb.
## Every program under cmd/ but demo is packaged (packaging/mkdeb.sh).
DEB_ARCHES ?= arm64 armhf armel
.PHONY: deb
deb:
	@for a in $(DEB_ARCHES); do GO=$(GO) VERSION=$(VERSION) packaging/mkdeb.sh $$a bin/deb || exit 1; done

## demo: every part on one machine: the embedded broker, vitalsim and a
## chairside daemon for each of three chairs, and the nursing station (its URL
## and a demo user's password are printed). DEMO_FLAGS=-terminal adds the
## nurse's view in the terminal.
demo: build
	bin/demo -bin bin -configs configs $(DEMO_FLAGS)

clean:
	rm -rf bin
