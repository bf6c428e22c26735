package main

import (
	"net/http"

	"example.com/gosvc/internal/handler"
)

func main() {
	http.ListenAndServe(":8080", handler.New())
}
