module github.com/chairside/chairside

go 1.25.0

require (
	github.com/BurntSushi/toml v1.6.0
	github.com/creack/pty v1.1.24
	go.bug.st/serial v1.8.0
	golang.org/x/sys v0.45.0
)
