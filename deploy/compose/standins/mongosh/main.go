// Command mongosh is a TEST STAND-IN for the mongosh of the mongo image,
// for running intake's Compose stack where no registry is reachable; never
// for production. It runs exactly what deploy/compose/mongo.yml's
// healthcheck runs: `mongosh --quiet --norc --eval "db.adminCommand('ping').ok"`
// against mongodb://127.0.0.1:27017 (or --host/--port, or a URI argument):
// it sends a real ping, prints 1 and exits 0, or prints the error and exits
// 1. Any other --eval is refused (exit 2).
package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"go.mongodb.org/mongo-driver/v2/bson"
	"go.mongodb.org/mongo-driver/v2/mongo"
	"go.mongodb.org/mongo-driver/v2/mongo/options"
)

func main() {
	uri, host, port, eval := "", "127.0.0.1", "27017", ""
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--quiet" || a == "--norc":
		case a == "--eval" && i+1 < len(args):
			i++
			eval = args[i]
		case a == "--host" && i+1 < len(args):
			i++
			host = args[i]
		case a == "--port" && i+1 < len(args):
			i++
			port = args[i]
		case strings.HasPrefix(a, "mongodb://"):
			uri = a
		default:
			fmt.Fprintf(os.Stderr, "mongosh stand-in: unsupported argument %q\n", a)
			os.Exit(2)
		}
	}
	if strings.ReplaceAll(eval, `"`, "'") != "db.adminCommand('ping').ok" {
		fmt.Fprintf(os.Stderr, "mongosh stand-in: only --eval \"db.adminCommand('ping').ok\" is supported, not %q\n", eval)
		os.Exit(2)
	}
	if uri == "" {
		uri = "mongodb://" + host + ":" + port + "/?directConnection=true"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := mongo.Connect(options.Client().ApplyURI(uri).SetServerSelectionTimeout(4 * time.Second))
	if err != nil {
		fmt.Fprintln(os.Stderr, "mongosh stand-in:", err)
		os.Exit(1)
	}
	defer func() { _ = c.Disconnect(context.Background()) }()
	var res bson.M
	if err := c.Database("admin").RunCommand(ctx, bson.D{{Key: "ping", Value: 1}}).Decode(&res); err != nil {
		fmt.Fprintln(os.Stderr, "mongosh stand-in:", err)
		os.Exit(1)
	}
	fmt.Println(1)
}
