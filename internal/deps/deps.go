//go:build tools

package deps

import (
	_ "github.com/aws/aws-lambda-go/lambda"
	_ "github.com/awslabs/aws-lambda-go-api-proxy/httpadapter"
	_ "github.com/jackc/pgx/v5/pgxpool"
	_ "github.com/prometheus-community/pro-bing"
	_ "github.com/robfig/cron/v3"
	_ "go.etcd.io/bbolt"
	_ "modernc.org/ql"
)
