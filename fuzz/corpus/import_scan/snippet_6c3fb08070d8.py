if x:
    import a
else:
    import b