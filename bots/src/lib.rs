//! Bot types, the BotInterface trait, configs and the wire types shared by agent and gateway (work starts with issue 4).
