package models_test

import (
	"context"
	"testing"

	"github.com/alexedwards/argon2id"

	"gatehouse/models"
	"gatehouse/models/dbtest"
)

// BenchmarkPasswordHash is the cost of one argon2id hash with PasswordParams (one core).
func BenchmarkPasswordHash(b *testing.B) {
	for i := 0; i < b.N; i++ {
		if _, err := argon2id.CreateHash("correct horse battery staple", models.PasswordParams); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAuthenticate is password-login throughput (lookup + verify) on all cores.
func BenchmarkAuthenticate(b *testing.B) {
	db := dbtest.New(b)
	ctx := context.Background()
	if _, err := models.CreateUser(ctx, db.Bun, models.NewUser{Email: "a@example.com", Name: "A", Password: "correct horse battery"}); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := models.Authenticate(ctx, db.Bun, "a@example.com", "correct horse battery"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
