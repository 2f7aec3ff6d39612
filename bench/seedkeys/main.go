// Command seedkeys fills a store with API keys for the load benchmark and
// prints one working key.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"

	"github.com/tollgate-dev/tollgate/internal/store/storetest"
)

func main() {
	dsn := flag.String("store", "sqlite://bench/out/data/tollgate.db", "store DSN")
	n := flag.Int("keys", 1_000_000, "number of keys")
	flag.Parse()
	key, err := storetest.SeedKeys(context.Background(), *dsn, "bench", "", *n)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(key)
}
