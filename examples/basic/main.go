// Command basic will be the runnable example of redismw: an HTTP server
// whose handlers get a ready Redis client from the middleware. The HTTP
// layer has not landed yet; until it does, this prints what is coming.
package main

import "fmt"

func main() {
	fmt.Println("redismw: the HTTP example is coming soon; the connector is ready: see ./connector")
}
