package database

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// ExportRunReadOnly runs query unwrapped in the Source's read-only
// transaction on the named connection, for tests of the transaction guard.
func ExportRunReadOnly(ctx context.Context, s *Source, name, query string) error {
	return s.inTx(ctx, name, func(tx pgx.Tx) error {
		rows, err := tx.Query(ctx, query)
		if err != nil {
			return classify(ctx, name, err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return classify(ctx, name, err)
		}
		return nil
	})
}

// ExportRefusedFunctions are the function names the query filter refuses.
var ExportRefusedFunctions = refusedFunctions
