// Command etcd wraps the etcd server so it can be built from the module proxy
// (go install of go.etcd.io/etcd/server/v3 fails on its replace directives).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
