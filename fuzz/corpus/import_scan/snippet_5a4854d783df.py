import a \
    .b