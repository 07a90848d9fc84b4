// cnirun: a minimal container runtime's CNI side, on libcni. It runs one
// command (ADD, CHECK, DEL, or CACHED: the result libcni cached at ADD) for
// a network configuration list exactly the way a runtime does — plugins
// found in -bindirs, results cached in -cachedir and handed on as
// prevResult, capability arguments passed as runtimeConfig — and prints
// one JSON line: {"ok":true,"result":...} or {"ok":false,"code":N,"msg":"..."}.
//
// Part of netplumb's cni_bridge test (examples/cni_bridge/libcni_client.rs builds
// and drives it). Build (Debian: golang-go, golang-github-appc-cni-dev):
//
//	GO111MODULE=off GOPATH=/usr/share/gocode go build -o cnirun main.go
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func fail(code uint, msg string) {
	out, _ := json.Marshal(map[string]interface{}{"ok": false, "code": code, "msg": msg})
	fmt.Println(string(out))
	os.Exit(1)
}

func main() {
	cmd := flag.String("cmd", "", "ADD, CHECK, DEL or CACHED")
	conflist := flag.String("conflist", "", "network configuration list file")
	netns := flag.String("netns", "", "container network namespace path")
	id := flag.String("id", "", "container ID")
	ifname := flag.String("ifname", "eth0", "interface name in the container")
	binDirs := flag.String("bindirs", "/usr/lib/cni", "plugin directories, colon separated")
	cacheDir := flag.String("cachedir", "", "libcni result cache directory")
	caps := flag.String("caps", "{}", "capability arguments (JSON object)")
	args := flag.String("args", "", "CNI_ARGS as K=V;K2=V2")
	flag.Parse()

	list, err := libcni.ConfListFromFile(*conflist)
	if err != nil {
		fail(0, "load "+*conflist+": "+err.Error())
	}
	capArgs := map[string]interface{}{}
	if err := json.Unmarshal([]byte(*caps), &capArgs); err != nil {
		fail(0, "-caps: "+err.Error())
	}
	rt := &libcni.RuntimeConf{
		ContainerID:    *id,
		NetNS:          *netns,
		IfName:         *ifname,
		CapabilityArgs: capArgs,
		CacheDir:       *cacheDir,
	}
	for _, kv := range strings.Split(*args, ";") {
		if p := strings.SplitN(kv, "=", 2); len(p) == 2 {
			rt.Args = append(rt.Args, [2]string{p[0], p[1]})
		}
	}
	cni := libcni.NewCNIConfigWithCacheDir(strings.Split(*binDirs, ":"), *cacheDir, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	var res types.Result
	switch *cmd {
	case "ADD":
		res, err = cni.AddNetworkList(ctx, list, rt)
	case "CHECK":
		err = cni.CheckNetworkList(ctx, list, rt)
	case "DEL":
		err = cni.DelNetworkList(ctx, list, rt)
	case "CACHED":
		res, err = cni.GetNetworkListCachedResult(list, rt)
	default:
		fail(0, "unknown -cmd "+*cmd)
	}
	if err != nil {
		// libcni wraps a plugin's error ("plugin type=... failed (add): ...").
		var e *types.Error
		if errors.As(err, &e) {
			fail(e.Code, err.Error())
		}
		fail(0, err.Error())
	}
	out := map[string]interface{}{"ok": true}
	if res != nil {
		out["result"] = res
	}
	b, err := json.Marshal(out)
	if err != nil {
		fail(0, "encode result: "+err.Error())
	}
	fmt.Println(string(b))
}
