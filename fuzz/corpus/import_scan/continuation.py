import a \
  .b
x = (1,
# )
 2)
raise X from Y
yield from z
