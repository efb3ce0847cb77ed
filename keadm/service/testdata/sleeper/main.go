// Command sleeper is a test helper for package service: it prints a start
// line with its arguments and SLEEPER_VALUE, then sleeps until SIGTERM.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ignoreTerm := flag.Bool("ignore-term", false, "ignore SIGTERM (only SIGKILL stops it)")
	exitCode := flag.Int("exit", -1, "exit at once with this code")
	flag.Parse()

	if *exitCode >= 0 {
		fmt.Println("sleeper exiting with", *exitCode)
		os.Exit(*exitCode)
	}
	sigs := make(chan os.Signal, 1)
	if *ignoreTerm {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(sigs, syscall.SIGTERM)
	}
	fmt.Printf("sleeper started pid=%d args=%q value=%s\n", os.Getpid(), flag.Args(), os.Getenv("SLEEPER_VALUE"))
	if *ignoreTerm {
		for {
			time.Sleep(time.Hour)
		}
	}
	<-sigs
	fmt.Println("sleeper got SIGTERM")
}
