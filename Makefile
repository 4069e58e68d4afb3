# Builds ferryd and the cmocka unit tests. The nginx module is built by
# build.sh through nginx's own configure (see the top-level `config`).
#
#   make            build/ferryd and build/t/test_*
#   make SAN=1      the same with AddressSanitizer + UBSan into build-asan/

CC      ?= cc
SAN     ?=
ifeq ($(SAN),1)
BUILD   ?= build-asan
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
else
BUILD   ?= build
SANFLAGS =
endif

CFLAGS  ?= -O2 -g
CFLAGS  += -std=gnu11 -Wall -Wextra -Werror -pthread -D_GNU_SOURCE $(SANFLAGS) \
           -Icommon -Ihelper -I$(shell pg_config --includedir)
LDFLAGS += -pthread $(SANFLAGS)
LIBS     = -lpq -lcjson -lcurl -lzip -lssl -lcrypto -lcrypt -lm

COMMON_SRC := $(shell find common -name '*.c')
HELPER_SRC := $(shell find helper -name '*.c')
LIB_SRC    := $(COMMON_SRC) $(filter-out helper/main.c,$(HELPER_SRC))
UNIT_SRC   := $(wildcard t/unit/test_*.c)

LIB_OBJ    := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
MAIN_OBJ   := $(BUILD)/obj/helper/main.o
UNIT_BIN   := $(UNIT_SRC:t/unit/%.c=$(BUILD)/t/%)

.PHONY: all ferryd unit check clean
all: ferryd unit
ferryd: $(BUILD)/ferryd
unit: $(UNIT_BIN)

$(BUILD)/ferryd: $(MAIN_OBJ) $(LIB_OBJ)
	$(CC) $(LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/t/%: t/unit/%.c $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -It/unit $(LDFLAGS) -o $@ $< $(LIB_OBJ) $(LIBS) -lcmocka

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c -o $@ $<

# Runs every unit test; cmocka prints its own summary per binary.
check: unit
	@rc=0; for t in $(UNIT_BIN); do $$t || rc=1; done; exit $$rc

clean:
	rm -rf build build-asan

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
