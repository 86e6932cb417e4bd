with a as b, c as d:
    import in_with