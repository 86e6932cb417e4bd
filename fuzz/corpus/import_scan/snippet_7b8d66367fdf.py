x = [1,
# comment )
 2]
import after_comment_in_bracket