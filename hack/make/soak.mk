# Churn soak: 20000 cycles of pods and volumes coming and going (bench/soak_test.go).
.PHONY: soak
soak:
	SOAK_CYCLES=20000 $(GO) test -count=1 -run TestChurnSoak -v ./bench/

LONG_TARGETS += soak
